"""WebSockets and Server-Sent Events of every combination that has them,
over real sockets to a booted service: fan-out, invalid and oversize frames,
Last-Event-ID replay, Redis across processes, and SIGTERM with clients open."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
import websockets

from .conftest import ProjectFactory, matrix_params
from .realtime import event_stream, ws_message, ws_url

pytestmark = pytest.mark.slow

REALTIME = matrix_params(lambda a: a.get("websockets") or a.get("sse"))
REDIS = matrix_params(lambda a: a.get("broker") == "redis")


def settings(answers: dict[str, Any]) -> dict[str, str]:
    """Environment for a booted service: debug logs, its own Redis prefix."""
    env = {"LOG_LEVEL": "DEBUG"}
    if answers.get("broker") == "redis":
        env["REDIS_PREFIX"] = f"template-test-{uuid.uuid4().hex}:"
    return env


async def subscribe_all(
    stack: AsyncExitStack, answers: dict[str, Any], base_url: str
) -> tuple[list[Any], list[Any]]:
    """Open one WebSocket and one event stream, as the combination allows."""
    sockets, streams = [], []
    if answers.get("websockets"):
        sockets.append(
            await stack.enter_async_context(websockets.connect(ws_url(base_url)))
        )
    if answers.get("sse"):
        streams.append(await stack.enter_async_context(event_stream(base_url)))
    await asyncio.sleep(0.2)  # the handlers subscribe once they run
    return sockets, streams


async def post(base_url: str, text: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post("/api/messages", json={"text": text})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize("answers", REALTIME)
def test_every_client_gets_every_message_in_order(
    projects: ProjectFactory, answers: dict[str, Any]
) -> None:
    project = projects.installed(answers)

    async def scenario(base_url: str) -> None:
        async with AsyncExitStack() as stack:
            sockets, streams = await subscribe_all(stack, answers, base_url)
            posted = [await post(base_url, f"message {n}") for n in range(5)]
            for socket in sockets:
                frames = [await ws_message(socket) for _ in posted]
                assert frames == [{"type": "message", "data": m} for m in posted]
            for stream in streams:
                assert [await stream.next_message() for _ in posted] == posted

    with project.serve(settings(answers)) as service:
        asyncio.run(scenario(service.base_url))


@pytest.mark.parametrize("answers", matrix_params(lambda a: a.get("websockets")))
def test_websocket_frames_errors_and_size_limit(
    projects: ProjectFactory, answers: dict[str, Any]
) -> None:
    project = projects.installed(answers)

    async def scenario(base_url: str) -> None:
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

            await socket.send("x" * 2048)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws_message(socket)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1009

    with project.serve({**settings(answers), "WS_MAX_MESSAGE_SIZE": "1024"}) as service:
        asyncio.run(scenario(service.base_url))
        assert "Traceback" not in service.log()


@pytest.mark.parametrize("answers", matrix_params(lambda a: a.get("sse")))
def test_sse_reconnect_with_last_event_id_misses_nothing(
    projects: ProjectFactory, answers: dict[str, Any]
) -> None:
    project = projects.installed(answers)

    async def scenario(base_url: str) -> None:
        async with event_stream(base_url) as stream:
            first = await post(base_url, "before the drop")
            assert await stream.next_message() == first
        missed = [await post(base_url, f"while away {n}") for n in range(3)]
        async with event_stream(base_url, last_event_id=first["id"]) as stream:
            replayed = [await stream.next_message() for _ in missed]
            assert replayed == missed
            live = await post(base_url, "after the reconnect")
            assert await stream.next_message() == live

    with project.serve({**settings(answers), "SSE_KEEPALIVE": "0.2"}) as service:
        asyncio.run(scenario(service.base_url))


@pytest.mark.parametrize("answers", REDIS)
def test_redis_fans_out_across_processes(
    projects: ProjectFactory, answers: dict[str, Any], redis_available: None
) -> None:
    project = projects.installed(answers)
    env = settings(answers)
    first_log = project.path.parent / "first.log"
    second_log = project.path.parent / "second.log"

    async def scenario(first: str, second: str) -> None:
        async with AsyncExitStack() as stack:
            first_clients = await subscribe_all(stack, answers, first)
            second_clients = await subscribe_all(stack, answers, second)
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


@pytest.mark.parametrize("answers", REALTIME)
def test_sigterm_ends_open_streams_within_the_grace_period(
    projects: ProjectFactory, answers: dict[str, Any]
) -> None:
    project = projects.installed(answers)
    grace = 3.0

    async def scenario(service: Any) -> float:
        async with AsyncExitStack() as stack:
            sockets, streams = await subscribe_all(stack, answers, service.base_url)
            started = time.monotonic()
            service.process.send_signal(signal.SIGTERM)
            for socket in sockets:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await ws_message(socket)
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == 1001
                assert closed.value.rcvd.reason == "server shutting down"
            for stream in streams:
                event = await stream.next()
                assert event["event"] == "close", event
                assert json.loads(event["data"]) == {"reason": "server shutting down"}
            return time.monotonic() - started

    env = {**settings(answers), "GRACEFUL_TIMEOUT": str(grace)}
    with project.serve(env) as service:
        asyncio.run(scenario(service))
        assert service.process is not None
        code = service.process.wait(grace + 5)
    assert code == 0, service.log()
    assert "Traceback" not in service.log()
