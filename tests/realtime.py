"""Real clients for a booted service's realtime endpoints."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

TIMEOUT = 10


class EventStream:
    """An SSE client over httpx that parses events from ``/events``."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()

    async def next(self) -> dict[str, str]:
        """The next event or comment, as a field-to-value mapping."""
        fields: dict[str, str] = {}
        while True:
            line = await asyncio.wait_for(anext(self.lines), TIMEOUT)
            if not line:
                if fields:
                    return fields
                continue
            name, _, value = line.partition(":")
            fields[name or "comment"] = value.removeprefix(" ")

    async def next_message(self) -> dict[str, Any]:
        """The next ``message`` event's data, skipping comments."""
        while True:
            event = await self.next()
            if event.get("event") == "message":
                assert event["id"] == str(json.loads(event["data"])["id"])
                return json.loads(event["data"])
            assert "comment" in event or "retry" in event, event


@asynccontextmanager
async def event_stream(
    base_url: str, last_event_id: int | None = None, **client: Any
) -> AsyncIterator[EventStream]:
    """Open ``/events`` (optionally resuming after *last_event_id*)."""
    headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT, **client) as http,
        http.stream("GET", "/events", headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        stream = EventStream(response)
        assert await stream.next() == {"retry": "2000"}
        yield stream


async def ws_message(socket: Any) -> dict[str, Any]:
    """The next JSON frame from a ``websockets`` client."""
    return json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT))


def ws_url(base_url: str) -> str:
    """The ``/ws`` URL of a service at *base_url*."""
    return base_url.replace("http", "ws", 1) + "/ws"
