"""Request ids, security headers and HSTS."""

from __future__ import annotations

import pytest
from quart import Quart
from quart.testing import QuartClient


async def test_request_id_is_generated(client: QuartClient) -> None:
    response = await client.get("/health/live")
    assert len(response.headers["X-Request-ID"]) == 32


async def test_incoming_request_id_is_honoured(client: QuartClient) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"


@pytest.mark.parametrize("incoming", ["has spaces", "x" * 129, 'quote"d', ""])
async def test_malformed_request_id_is_replaced(
    client: QuartClient, incoming: str
) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] != incoming
    assert len(response.headers["X-Request-ID"]) == 32


async def test_errors_carry_the_request_id(client: QuartClient) -> None:
    response = await client.get("/missing", headers={"X-Request-ID": "trace-1"})
    assert (await response.get_json())["request_id"] == "trace-1"


async def test_security_headers(client: QuartClient) -> None:
    response = await client.get("/")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    policy = response.headers["Content-Security-Policy"].split("; ")
    assert {"default-src 'self'", "frame-ancestors 'none'"} <= set(policy)
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


async def test_hsts_over_https_in_production_only(app: Quart) -> None:
    client = app.test_client()
    response = await client.get("/health/live", scheme="https")
    assert "Strict-Transport-Security" not in response.headers  # development
    app.config["APP_ENV"] = "production"
    response = await client.get("/health/live", scheme="https")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    response = await client.get("/health/live")  # plain HTTP: never
    assert "Strict-Transport-Security" not in response.headers


async def test_a_views_own_security_header_is_kept(app: Quart) -> None:
    @app.get("/framed")
    async def framed() -> tuple[str, dict[str, str]]:
        return "ok", {"X-Frame-Options": "SAMEORIGIN"}

    response = await app.test_client().get("/framed")
    assert response.headers.get_all("X-Frame-Options") == ["SAMEORIGIN"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_a_views_own_request_id_header_is_replaced(app: Quart) -> None:
    @app.get("/proxied")
    async def proxied() -> tuple[str, dict[str, str]]:
        return "ok", {"X-Request-ID": "upstream-id"}

    response = await app.test_client().get("/proxied", headers={"X-Request-ID": "mine"})
    assert response.headers.get_all("X-Request-ID") == ["mine"]
