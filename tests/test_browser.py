"""A person's view: headless Chromium opens the index page of the default
service (over HTTP and over HTTPS), posts a message through the form and sees
it arrive live; and a page of another origin is refused the WebSocket and the
API unless ``ALLOWED_ORIGINS`` lists it."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    Page,
    Playwright,
    Route,
    expect,
    sync_playwright,
)

from .generated import Project, free_port

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", Path(__file__).parent / "artifacts"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium(in_ci: bool) -> Iterator[Playwright]:
    if CHROMIUM is None:
        if in_ci:
            pytest.fail("chromium is required under CI (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        yield playwright


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_index_page_posts_and_shows_messages_live(
    default_project: Project, chromium: Playwright, scheme: str
) -> None:
    """Over HTTPS the page runs on the README's development certificate (the
    browser is told to accept it, as a developer clicks through once)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    certificate = default_project.make_certificate() if scheme == "https" else {}
    certificate.pop("CA_BUNDLE", None)
    env = {**certificate, "TLS_PORT": str(free_port())} if certificate else {}
    with default_project.serve(env) as service, service.client() as http:
        browser = launch(chromium)
        page = browser.new_context(ignore_https_errors=True).new_page()
        console = watch_console(page)
        page.goto((service.tls_url if certificate else service.base_url) + "/")
        expect(page.locator("#live-status")).to_have_text("Live")

        page.fill("#message-text", "typed in the browser")
        page.click("button[type=submit]")
        expect(page.locator("#messages li").first).to_contain_text(
            "typed in the browser"
        )

        http.post("/api/messages", json={"text": "posted by someone else"})
        expect(page.locator("#messages li").first).to_contain_text(
            "posted by someone else"
        )

        page.screenshot(path=ARTIFACTS / f"index-page-{scheme}.png", full_page=True)
        browser.close()
        assert not [m for m in console if "Content Security Policy" in m], console
        stored = http.get("/api/messages").json()["messages"]
        assert [m["text"] for m in stored[:2]] == [
            "posted by someone else",
            "typed in the browser",
        ]


def watch_console(page: Page) -> list[str]:
    """Every console message and page error from now on (CSP violations
    among them), in a list that grows."""
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    page.on("pageerror", lambda error: messages.append(str(error)))
    return messages


def test_docs_page_works_offline_under_the_csp(
    default_project: Project, chromium: Playwright
) -> None:
    """Swagger UI renders every API operation from the service's own files:
    any request to another origin is recorded and refused."""
    with default_project.serve() as service:
        browser = launch(chromium)
        page = browser.new_page()
        elsewhere: list[str] = []

        def only_the_service(route: Route) -> None:
            if route.request.url.startswith(service.base_url):
                route.continue_()
            else:
                elsewhere.append(route.request.url)
                route.abort()

        page.route("**/*", only_the_service)
        console = watch_console(page)
        page.goto(service.base_url + "/docs")
        operations = page.locator(".opblock-summary-path")
        expect(operations.first).to_be_visible()
        paths = set(operations.all_inner_texts())
        page.screenshot(path=ARTIFACTS / "docs-page.png", full_page=True)
        browser.close()
    assert {"/api/messages", "/health/live"} <= {p.replace("\u200b", "") for p in paths}
    assert elsewhere == []
    assert not [m for m in console if "Content Security Policy" in m], console


CROSS_ORIGIN_PAGE = """<!doctype html>
<title>another site</title>
<body>
<script>
const service = new URL(location.hash.slice(1));
const socket = new WebSocket(`ws://${service.host}/ws`);
const shown = document.body.dataset;
socket.onopen = () => { shown.socket = "open"; };
socket.onclose = (event) => { shown.socket ||= `closed ${event.code}`; };
fetch(new URL("/api/messages", service)).then(
  (response) => { document.body.dataset.api = `read ${response.status}`; },
  () => { document.body.dataset.api = "refused"; },
);
</script>
"""


@contextlib.contextmanager
def another_origin(directory: Path) -> Iterator[str]:
    """A static site of its own on another port: another origin."""
    (directory / "index.html").write_text(CROSS_ORIGIN_PAGE, encoding="utf-8")
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(directory)
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("listed", [False, True], ids=["unlisted", "listed"])
def test_another_origin_is_refused_unless_listed(
    default_project: Project, chromium: Playwright, tmp_path: Path, listed: bool
) -> None:
    """Cross-site WebSocket hijacking and cross-origin reads, tried by a real
    browser from a page of another origin."""
    with another_origin(tmp_path) as origin:
        env = {"ALLOWED_ORIGINS": origin} if listed else {}
        with default_project.serve(env) as service:
            browser = launch(chromium)
            page = browser.new_page()
            page.goto(f"{origin}/#{service.base_url}")
            body = page.locator("body")
            if listed:
                expect(body).to_have_attribute("data-socket", "open")
                expect(body).to_have_attribute("data-api", "read 200")
            else:
                expect(body).to_have_attribute("data-socket", "closed 1006")
                expect(body).to_have_attribute("data-api", "refused")
            browser.close()
            if not listed:  # what the browser was told: 403, before the upgrade
                refused = httpx.get(
                    service.base_url + "/ws",
                    headers={
                        "Origin": origin,
                        "Connection": "Upgrade",
                        "Upgrade": "websocket",
                        "Sec-WebSocket-Version": "13",
                        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                    },
                )
                assert refused.status_code == 403
                assert "not allowed" in refused.json()["message"]
