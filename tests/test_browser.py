"""A person's view: headless Chromium opens the index page of the default
service, posts a message through the form and sees it arrive live."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from .generated import Project

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


def test_index_page_posts_and_shows_messages_live(
    default_project: Project, in_ci: bool
) -> None:
    if CHROMIUM is None:
        if in_ci:
            pytest.fail("chromium is required under CI (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with (
        default_project.serve() as service,
        sync_playwright() as playwright,
        service.client() as http,
    ):
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        page.goto(service.base_url + "/")
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

        page.screenshot(path=ARTIFACTS / "index-page.png", full_page=True)
        browser.close()
        stored = http.get("/api/messages").json()["messages"]
        assert [m["text"] for m in stored[:2]] == [
            "posted by someone else",
            "typed in the browser",
        ]
