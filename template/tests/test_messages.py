"""The messages API."""

from __future__ import annotations

import pytest
from quart.testing import QuartClient


async def post(client: QuartClient, text: str) -> dict[str, object]:
    response = await client.post("/api/messages", json={"text": text})
    assert response.status_code == 201
    return await response.get_json()


async def test_create_and_fetch(client: QuartClient) -> None:
    created = await post(client, "hello")
    assert created["text"] == "hello"
    assert isinstance(created["id"], int)
    assert created["created_at"]

    response = await client.get(f"/api/messages/{created['id']}")
    assert response.status_code == 200
    assert await response.get_json() == created


async def test_missing_message_is_404_json(client: QuartClient) -> None:
    response = await client.get("/api/messages/999999")
    assert response.status_code == 404
    body = await response.get_json()
    assert body["status"] == 404
    assert body["message"] == "Message 999999 does not exist."


async def test_pages_newest_first(client: QuartClient) -> None:
    ids = [(await post(client, f"message {n}"))["id"] for n in range(5)]

    response = await client.get("/api/messages", query_string={"limit": 2})
    first = await response.get_json()
    assert [m["id"] for m in first["messages"]] == ids[:-3:-1]
    assert first["next_before"] == ids[3]

    response = await client.get(
        "/api/messages", query_string={"limit": 2, "before": first["next_before"]}
    )
    second = await response.get_json()
    assert [m["id"] for m in second["messages"]] == [ids[2], ids[1]]

    response = await client.get(
        "/api/messages", query_string={"limit": 2, "before": second["next_before"]}
    )
    last = await response.get_json()
    assert [m["id"] for m in last["messages"]] == [ids[0]]
    assert last["next_before"] is None


@pytest.mark.parametrize("text", ["", "x" * 2001])
async def test_text_length_is_validated(client: QuartClient, text: str) -> None:
    response = await client.post("/api/messages", json={"text": text})
    assert response.status_code == 422
    body = await response.get_json()
    assert body["details"][0]["loc"] == ["text"]


async def test_text_of_maximum_length_is_accepted(client: QuartClient) -> None:
    assert (await post(client, "x" * 2000))["text"] == "x" * 2000


@pytest.mark.parametrize(
    "query", [{"limit": "0"}, {"limit": "many"}, {"before": "-1"}, {"limit": "201"}]
)
async def test_bad_query_is_422(client: QuartClient, query: dict[str, str]) -> None:
    response = await client.get("/api/messages", query_string=query)
    assert response.status_code == 422
    assert (await response.get_json())["error"] == "Unprocessable Entity"


@pytest.mark.parametrize("extra_settings", [{"MESSAGES_MAX": 3}])
async def test_memory_store_keeps_only_the_newest(client: QuartClient) -> None:
    ids = [(await post(client, f"message {n}"))["id"] for n in range(5)]
    assert (await client.get(f"/api/messages/{ids[0]}")).status_code == 404
    response = await client.get("/api/messages")
    assert [m["id"] for m in (await response.get_json())["messages"]] == ids[:1:-1]
