"""WebSockets and Server-Sent Events of the combinations that have them (a
covering set), over real sockets to a booted service: fan-out, invalid and
oversize frames, Last-Event-ID replay, Redis across processes, and SIGTERM
with clients open."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
import websockets

from .matrix import Combination
from .projects import ProjectFactory, matrix_params
from .realtime import event_stream, ws_message, ws_url
from .services import Databases

pytestmark = pytest.mark.slow

# Covering sets: every pair of answers among the combinations each applies to.
REALTIME = matrix_params(lambda c: c.realtime, cover=2)
REDIS = matrix_params(lambda c: c.needs_redis, cover=2)
WS_MAX_MESSAGE_SIZE = 1024
GRACE = 3.0


def settings(combination: Combination, databases: Databases) -> dict[str, str]:
    """Environment for a booted service: debug logs, its own database and
    Redis prefix."""
    return {"LOG_LEVEL": "DEBUG", **databases.env(combination)}


async def subscribe_all(
    stack: AsyncExitStack, combination: Combination, base_url: str
) -> tuple[list[Any], list[Any]]:
    """Open one WebSocket and one event stream, as the combination allows."""
    sockets, streams = [], []
    if combination.websockets:
        sockets.append(
            await stack.enter_async_context(websockets.connect(ws_url(base_url)))
        )
    if combination.sse:
        streams.append(await stack.enter_async_context(event_stream(base_url)))
    await asyncio.sleep(0.2)  # the handlers subscribe once they run
    return sockets, streams


async def post(base_url: str, text: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post("/api/messages", json={"text": text})
    assert response.status_code == 201, response.text
    return response.json()


async def fan_out(combination: Combination, base_url: str) -> None:
    """Every connected client gets every posted message, in order."""
    async with AsyncExitStack() as stack:
        sockets, streams = await subscribe_all(stack, combination, base_url)
        posted = [await post(base_url, f"message {n}") for n in range(5)]
        for socket in sockets:
            frames = [await ws_message(socket) for _ in posted]
            assert frames == [{"type": "message", "data": m} for m in posted]
        for stream in streams:
            assert [await stream.next_message() for _ in posted] == posted


async def websocket_frames(base_url: str) -> None:
    """Invalid frames get error frames; a frame over the limit closes 1009."""
    async with websockets.connect(ws_url(base_url)) as socket:
        await socket.send("{not json")
        error = await ws_message(socket)
        assert error["type"] == "error"
        assert "Invalid JSON" in error["error"]
        await socket.send(json.dumps({"text": ""}))
        assert (await ws_message(socket))["type"] == "error"
        await socket.send(json.dumps({"text": "posted over the socket"}))
        echoed = await ws_message(socket)
        assert echoed["type"] == "message"
        async with httpx.AsyncClient(base_url=base_url) as http:
            stored = await http.get(f"/api/messages/{echoed['data']['id']}")
        assert stored.json() == echoed["data"]

        await socket.send("x" * (WS_MAX_MESSAGE_SIZE + 1))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws_message(socket)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009


async def sse_reconnect(base_url: str) -> None:
    """A stream that reconnects with Last-Event-ID misses nothing."""
    async with event_stream(base_url) as stream:
        first = await post(base_url, "before the drop")
        assert await stream.next_message() == first
    missed = [await post(base_url, f"while away {n}") for n in range(3)]
    async with event_stream(base_url, last_event_id=first["id"]) as stream:
        replayed = [await stream.next_message() for _ in missed]
        assert replayed == missed
        live = await post(base_url, "after the reconnect")
        assert await stream.next_message() == live


async def sigterm(combination: Combination, service: Any) -> None:
    """SIGTERM ends every open WebSocket (1001) and stream (event: close)."""
    async with AsyncExitStack() as stack:
        sockets, streams = await subscribe_all(stack, combination, service.base_url)
        service.process.send_signal(signal.SIGTERM)
        for socket in sockets:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws_message(socket)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1001
            assert closed.value.rcvd.reason == "server shutting down"
        for stream in streams:
            while "comment" in (event := await stream.next()):
                pass  # keep-alive comments may come first
            assert event["event"] == "close", event
            assert json.loads(event["data"]) == {"reason": "server shutting down"}


@pytest.mark.parametrize("combination", REALTIME)
def test_realtime_over_real_sockets(
    projects: ProjectFactory, combination: Combination, databases: Databases
) -> None:
    """One boot per combination: fan-out, frames, replay, then SIGTERM."""
    project = projects.installed(combination)
    env = {
        **settings(combination, databases),
        "WS_MAX_MESSAGE_SIZE": str(WS_MAX_MESSAGE_SIZE),
        "SSE_KEEPALIVE": "0.2",
        "GRACEFUL_TIMEOUT": str(GRACE),
    }
    with project.serve(env) as service:
        asyncio.run(fan_out(combination, service.base_url))
        if combination.websockets:
            asyncio.run(websocket_frames(service.base_url))
        if combination.sse:
            asyncio.run(sse_reconnect(service.base_url))
        started = time.monotonic()
        asyncio.run(sigterm(combination, service))
        assert service.process is not None
        code = service.process.wait(GRACE + 5)
        assert time.monotonic() - started < GRACE + 2
    assert code == 0, service.log()
    assert "Traceback" not in service.log()


@pytest.mark.parametrize("combination", REDIS)
def test_redis_fans_out_across_processes(
    projects: ProjectFactory,
    combination: Combination,
    redis_available: None,
    databases: Databases,
) -> None:
    project = projects.installed(combination)
    env = settings(combination, databases)
    first_log = project.path.parent / "first.log"
    second_log = project.path.parent / "second.log"

    async def scenario(first: str, second: str) -> None:
        async with AsyncExitStack() as stack:
            first_clients = await subscribe_all(stack, combination, first)
            second_clients = await subscribe_all(stack, combination, second)
            posted = [await post(first, "from the first"), await post(second, "2nd")]
            for sockets, streams in (first_clients, second_clients):
                for socket in sockets:
                    frames = [await ws_message(socket) for _ in posted]
                    assert [f["data"] for f in frames] == posted
                for stream in streams:
                    assert [await stream.next_message() for _ in posted] == posted
            assert posted[0]["id"] != posted[1]["id"]

    with (
        project.serve(env, log=first_log) as first,
        project.serve(env, log=second_log) as second,
    ):
        asyncio.run(scenario(first.base_url, second.base_url))
