"""The HTML index page and the API documentation."""

from __future__ import annotations

from quart.testing import QuartClient


async def test_index_shows_recent_messages(client: QuartClient) -> None:
    await client.post("/api/messages", json={"text": "<b>shown escaped</b>"})
    response = await client.get("/")
    assert response.status_code == 200
    assert response.content_type.startswith("text/html")
    html = await response.get_data(as_text=True)
    assert "&lt;b&gt;shown escaped&lt;/b&gt;" in html
    assert 'data-api="/api/messages"' in html
    assert "/static/messages.js" in html


async def test_static_files_are_served(client: QuartClient) -> None:
    response = await client.get("/static/messages.js")
    assert response.status_code == 200


async def test_openapi_documents_every_api_route(client: QuartClient) -> None:
    response = await client.get("/openapi.json")
    schema = await response.get_json()
    assert {"/api/messages", "/api/messages/{message_id}", "/health/ready"} <= set(
        schema["paths"]
    )
    assert "422" in schema["paths"]["/api/messages"]["post"]["responses"]


async def test_docs_page(client: QuartClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in (await response.get_data(as_text=True)).lower()
