"""Liveness and readiness."""

from __future__ import annotations

from quart import Quart
from quart.testing import QuartClient


async def test_live(client: QuartClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok"}


async def test_ready_lists_every_check(client: QuartClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    body = await response.get_json()
    assert body["status"] == "ok"
    assert body["checks"]
    assert set(body["checks"].values()) == {"ok"}


async def test_ready_reports_a_failing_check(app: Quart, client: QuartClient) -> None:
    async def broken() -> None:
        raise ConnectionError("connection refused")

    app.extensions["readiness_checks"]["broken"] = broken
    response = await client.get("/health/ready")
    assert response.status_code == 503
    body = await response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["broken"] == "error: ConnectionError: connection refused"


async def test_not_ready_while_shutting_down(app: Quart, client: QuartClient) -> None:
    app.extensions["shutting_down"] = True
    response = await client.get("/health/ready")
    assert response.status_code == 503
    assert (await response.get_json())["checks"]["server"] == "error: shutting down"
