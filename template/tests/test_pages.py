"""The HTML index page and the API documentation."""

from __future__ import annotations

import re

import pytest
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


async def test_docs_page_uses_the_packaged_swagger_ui(client: QuartClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    html = await response.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/static/swagger-ui/swagger-ui-bundle.js" in assets
    for asset in assets:
        assert asset.startswith("/static/"), f"{asset} is not served by the service"
        assert (await client.get(asset)).status_code == 200


@pytest.mark.parametrize("path", ["/", "/docs"])
async def test_pages_have_no_inline_script_or_style(
    client: QuartClient, path: str
) -> None:
    """What the Content-Security-Policy (``default-src 'self'``) requires."""
    html = await (await client.get(path)).get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html)
    assert "<style" not in html
    assert " style=" not in html
    assert not re.search(r"<[^>]+\son[a-z]+=", html), "an inline event handler"
