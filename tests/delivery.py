"""Clients that check the realtime delivery contract over real sockets.

A :class:`Follower` is one WebSocket or SSE client that records the id of
every message it receives, across as many reconnections as it makes: it
resumes with the last id it got (``Last-Event-ID`` or ``/ws?after=``), as a
browser or a careful client does. :func:`write` posts messages from many
writers at once and records what the service acknowledged.
:func:`assert_delivered` then checks the contract: every follower got every
acknowledged message exactly once, in id order, and nothing else.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import random
import ssl
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import uvloop
import websockets

from .realtime import ws_url

T = TypeVar("T")

# How long a follower waits for its next event before it counts as stalled.
STALL = 15.0
RECONNECT_DELAY = 0.1
# Ways a connection ends that a follower recovers from by reconnecting.
DISCONNECTS = (
    httpx.TransportError,
    websockets.ConnectionClosed,
    websockets.InvalidHandshake,
    OSError,
    EOFError,
)


@dataclass
class Writes:
    """What the writers sent: acknowledged ids and every other outcome."""

    acknowledged: dict[int, str] = field(default_factory=dict)  # id -> text
    refused: list[tuple[int, str]] = field(default_factory=list)  # status, text
    # Refused with a 503 that says the message may have been stored.
    maybe_stored: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # no answer: maybe stored
    errors: list[str] = field(default_factory=list)  # why there was no answer


async def write(
    base_urls: Sequence[str],
    count: int,
    in_flight: int,
    *,
    rate: float | None = None,
    text: Callable[[int], str] = lambda n: f"message {n}",
) -> Writes:
    """POST *count* messages, *in_flight* at a time, spread over *base_urls*
    (at most *rate* per second when given)."""
    writes = Writes()
    clients = [
        httpx.AsyncClient(
            base_url=url,
            timeout=10,
            # A fresh connection for every POST: a keep-alive connection the
            # server closes as idle just as a POST is sent leaves its fate
            # unknown (the race every HTTP/1.1 client has).
            limits=httpx.Limits(max_connections=in_flight, max_keepalive_connections=0),
            verify=tls(),
        )
        for url in base_urls
    ]
    numbers = iter(range(count))
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def writer(worker: int) -> None:
        for n in numbers:
            if rate is not None:
                await asyncio.sleep(max(0.0, started + n / rate - loop.time()))
            body = text(n)
            client = clients[(worker + n) % len(clients)]
            try:
                response = await post_once(client, body)
            except httpx.TransportError as error:
                writes.unknown.append(body)
                writes.errors.append(repr(error))
                continue
            if response.status_code == 201:
                writes.acknowledged[response.json()["id"]] = body
            elif "may have been stored" in response.text:
                writes.maybe_stored.append(body)
            else:
                writes.refused.append((response.status_code, body))

    try:
        await asyncio.gather(*(writer(w) for w in range(in_flight)))
    finally:
        for client in clients:
            await client.aclose()
    return writes


async def post_once(client: httpx.AsyncClient, text: str) -> httpx.Response:
    """POST one message; send it again only when it was surely never sent."""
    for _ in range(3):
        try:
            return await client.post("/api/messages", json={"text": text})
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout):
            await asyncio.sleep(RECONNECT_DELAY)
    return await client.post("/api/messages", json={"text": text})


@functools.cache
def tls() -> ssl.SSLContext:
    """One TLS context for every client: httpx would load the CA bundle anew
    for each (tens of milliseconds: seconds for a few hundred clients, long
    enough for a connection opened first to be closed as idle)."""
    return ssl.create_default_context()


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run the test's clients on uvloop: hundreds of them share one process,
    and a client that lags seconds behind would fail for its own slowness."""
    return uvloop.run(coroutine)


@dataclass
class Follower:
    """One realtime client that reconnects and resumes until told to stop."""

    base_url: str
    kind: str  # "ws" or "sse"
    cut_after: Callable[[], int | None] = lambda: None  # messages per connection
    # The first connection resumes after id 0, so a follower gets every
    # message however late its handler subscribes.
    start_after: int = 0
    received: list[int] = field(default_factory=list)
    texts: dict[int, str] = field(default_factory=dict)
    resets: list[int] = field(default_factory=list)
    connections: int = 0
    stalls: int = 0

    @property
    def last_id(self) -> int:
        return self.received[-1] if self.received else self.start_after

    async def run(self, done: Callable[[Follower], bool]) -> None:
        """Follow until *done* says so; reconnect after every cut or drop.

        A connection that sends nothing for ``STALL`` seconds is a stall,
        counted (the contract allows none) and then resumed like a drop.
        """
        async with httpx.AsyncClient(
            base_url=self.base_url, timeout=STALL, verify=tls()
        ) as http:
            while not done(self):
                try:
                    if self.kind == "ws":
                        await self._websocket(done)
                    else:
                        await self._event_stream(http, done)
                except (TimeoutError, httpx.TimeoutException):
                    self.stalls += 1
                except DISCONNECTS:
                    await asyncio.sleep(RECONNECT_DELAY)

    def _got(self, message: dict[str, Any]) -> None:
        self.received.append(int(message["id"]))
        self.texts[int(message["id"])] = message["text"]

    async def _websocket(self, done: Callable[[Follower], bool]) -> None:
        url = f"{ws_url(self.base_url)}?after={self.last_id}"
        cut = self.cut_after()
        async with websockets.connect(url, max_queue=None) as socket:
            self.connections += 1
            for got in itertools.count(1):
                if done(self) or (cut is not None and got > cut):
                    return
                async with asyncio.timeout(STALL):
                    frame = json.loads(await socket.recv())
                if frame["type"] == "message":
                    self._got(frame["data"])
                elif frame["type"] == "reset":
                    self.resets.append(frame["latest_id"])

    async def _event_stream(
        self, http: httpx.AsyncClient, done: Callable[[Follower], bool]
    ) -> None:
        headers = {"Last-Event-ID": str(self.last_id)}
        cut = self.cut_after()
        async with http.stream("GET", "/events", headers=headers) as response:
            if response.status_code != 200:
                raise httpx.TransportError(f"/events answered {response.status_code}")
            self.connections += 1
            lines = response.aiter_lines()
            fields: dict[str, str] = {}
            got = 0
            while not done(self) and (cut is None or got < cut):
                async with asyncio.timeout(STALL):
                    line = await anext(lines)
                if line:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
                    continue
                if fields.get("event") == "message":
                    self._got(json.loads(fields["data"]))
                    got += 1
                elif fields.get("event") == "reset":
                    self.resets.append(json.loads(fields["data"])["latest_id"])
                elif fields.get("event") == "close":
                    raise EOFError(fields["data"])
                fields = {}


def followers(
    base_urls: Sequence[str], count: int, *, resume_share: float = 0.0, seed: int = 0
) -> list[Follower]:
    """*count* followers, half WebSocket and half SSE, spread over
    *base_urls*; *resume_share* of them drop and resume at random points."""
    rng = random.Random(seed)  # noqa: S311 - cut points, not secrets
    made = []
    for n in range(count):
        kind = ("ws", "sse")[n % 2]
        resumes = n < count * resume_share
        made.append(
            Follower(
                base_urls[n % len(base_urls)],
                kind,
                cut_after=(lambda: rng.randint(1, 80)) if resumes else lambda: None,
            )
        )
    return made


async def follow_until(
    clients: Sequence[Follower], last_id: Callable[[], int | None], timeout: float
) -> None:
    """Run *clients* until each has received *last_id()* (known once the
    writers are done), or fail after *timeout* seconds."""

    def done(follower: Follower) -> bool:
        target = last_id()
        return target is not None and follower.last_id >= target

    tasks = [asyncio.create_task(client.run(done)) for client in clients]
    try:
        async with asyncio.timeout(timeout):
            while not all(task.done() for task in tasks):
                for client, task in zip(clients, tasks, strict=True):
                    if done(client):
                        task.cancel()  # it may be waiting for a frame that never comes
                await asyncio.sleep(0.05)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error


def assert_delivered(
    clients: Sequence[Follower], writes: Writes, *, may_hold: set[str] = frozenset()
) -> None:
    """Every client got every acknowledged message once, in id order, with
    its text, and nothing that was not stored (*may_hold*: texts whose POST
    got no answer, which may or may not have been stored)."""
    expected = sorted(writes.acknowledged)
    for client in clients:
        assert client.received == sorted(set(client.received)), (
            f"{client.kind} client: ids out of order or repeated: {client.received}"
        )
        assert not client.resets, f"{client.kind} client was reset: {client.resets}"
        assert not client.stalls, f"{client.kind} client stalled {client.stalls}x"
        extra = set(client.received) - set(expected)
        assert {client.texts[i] for i in extra} <= may_hold, (
            f"{client.kind} client got messages never acknowledged: {sorted(extra)}"
        )
        missing = set(expected) - set(client.received)
        assert not missing, f"{client.kind} client missed {sorted(missing)}"
        for message_id, text in writes.acknowledged.items():
            assert client.texts[message_id] == text
