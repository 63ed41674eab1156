"""Every error is JSON, with a status the client can act on."""

from __future__ import annotations

import pytest
from quart import Quart
from quart.testing import QuartClient


async def test_malformed_json_is_400(client: QuartClient) -> None:
    response = await client.post(
        "/api/messages",
        data="{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    body = await response.get_json()
    assert body["message"].startswith("The request body is not valid JSON")


async def test_wrong_type_is_422(client: QuartClient) -> None:
    response = await client.post("/api/messages", json={"text": 42})
    assert response.status_code == 422
    assert (await response.get_json())["details"][0]["type"] == "string_type"


async def test_nul_character_is_422(client: QuartClient) -> None:
    response = await client.post("/api/messages", json={"text": "a\x00b"})
    assert response.status_code == 422
    detail = (await response.get_json())["details"][0]
    assert detail["type"] == "string_pattern_mismatch"


async def test_unknown_field_is_422(client: QuartClient) -> None:
    response = await client.post("/api/messages", json={"text": "a", "extra": 1})
    assert response.status_code == 422


async def test_non_json_body_is_415(client: QuartClient) -> None:
    response = await client.post("/api/messages", form={"text": "hello"})
    assert response.status_code == 415
    assert "application/json" in (await response.get_json())["message"]


@pytest.mark.parametrize("extra_settings", [{"MAX_CONTENT_LENGTH": 1024}])
async def test_oversize_body_is_413(client: QuartClient) -> None:
    response = await client.post("/api/messages", json={"text": "x" * 2048})
    assert response.status_code == 413
    assert (await response.get_json())["status"] == 413
    assert response.headers["Connection"] == "close"


async def test_unknown_route_is_404_json(client: QuartClient) -> None:
    response = await client.get("/no/such/page")
    assert response.status_code == 404
    assert response.content_type == "application/json"


async def test_wrong_method_is_405_with_allow(client: QuartClient) -> None:
    response = await client.delete("/api/messages")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert (await response.get_json())["status"] == 405


@pytest.mark.parametrize("extra_settings", [{"PROPAGATE_EXCEPTIONS": False}])
async def test_unhandled_exception_is_500_without_details(
    app: Quart, client: QuartClient
) -> None:
    @app.get("/boom")
    async def boom() -> str:
        raise RuntimeError("secret internals")

    response = await client.get("/boom")
    assert response.status_code == 500
    body = await response.get_json()
    assert body["message"] == "The server hit an unexpected error."
    assert "secret" not in str(body)


@pytest.mark.parametrize("extra_settings", [{"PROPAGATE_EXCEPTIONS": False}])
async def test_unhandled_exception_is_logged_once_with_its_request_id(
    app: Quart, client: QuartClient, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/boom")
    async def boom() -> str:
        raise RuntimeError("secret internals")

    response = await client.get("/boom", headers={"X-Request-ID": "boom-1"})
    assert response.status_code == 500
    errors = [record for record in caplog.records if record.exc_info]
    assert len(errors) == 1, [record.getMessage() for record in errors]
    _, exception, _ = errors[0].exc_info or (None, None, None)
    assert "secret internals" in str(exception)
    assert getattr(errors[0], "request_id", None) == "boom-1"


async def test_body_that_is_not_utf8_is_400(client: QuartClient) -> None:
    response = await client.post(
        "/api/messages",
        data=b'{"text": "\xff\xfe"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "not valid JSON" in (await response.get_json())["message"]


@pytest.mark.parametrize("extra_settings", [{"MAX_CONTENT_LENGTH": 1024 * 1024}])
async def test_json_nested_too_deeply_is_400(client: QuartClient) -> None:
    # Past the parser's depth on every Python: 3.13 stops at the recursion
    # limit, 3.14 and later only where the C stack would overflow (deeper than
    # the default MAX_CONTENT_LENGTH lets a body go).
    depth = 300_000
    response = await client.post(
        "/api/messages",
        data="[" * depth + "]" * depth,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert (await response.get_json())["message"] == (
        "The request body is not valid JSON: nested too deeply."
    )
