"""Realtime fan-out: N subscribers (SSE, WebSocket or half of each), M messages.

A bounded asyncio client, no load tool speaks SSE: it opens the subscribers,
makes sure every one is subscribed (a warm-up message reaches all of them),
then posts messages at a fixed rate through ``POST /api/messages`` and records
when each subscriber receives each one. Delivery latency runs from the moment
the post is sent to the moment the subscriber reads the event; a message a
subscriber never gets is counted lost.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from websockets.asyncio.client import connect

HOST = "127.0.0.1"
_MARK = re.compile(rb"fanout-(\d+)-(\d+)")


@dataclass
class FanoutResult:
    subscribers: int
    messages: int
    delivered: int
    lost: int
    p50_ms: float
    p99_ms: float
    deliveries_per_s: float
    bytes_per_subscriber: float
    posted_per_s: float  # the posting rate reached (the target is the *rate*)


class Inbox:
    """What every subscriber received, and when."""

    def __init__(self, subscribers: int) -> None:
        self.received: list[dict[int, float]] = [{} for _ in range(subscribers)]
        self.warm: list[bool] = [False] * subscribers

    def feed(self, index: int, data: bytes) -> None:
        now = time.perf_counter()
        for round_, seq in _MARK.findall(data):
            if round_ == b"0":
                self.warm[index] = True
            else:
                self.received[index].setdefault(int(seq), now)


async def sse_subscriber(
    port: int, index: int, inbox: Inbox, opened: asyncio.Event
) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(
            f"GET /events HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        status = await reader.readline()
        if b" 200" not in status:
            raise RuntimeError(f"/events answered {status!r}")
        while (await reader.readline()).strip():
            pass  # the headers
        opened.set()
        while data := await reader.read(65536):
            inbox.feed(index, data)
    finally:
        writer.close()


async def ws_subscriber(
    port: int, index: int, inbox: Inbox, opened: asyncio.Event
) -> None:
    async with connect(f"ws://{HOST}:{port}/ws", max_size=None, open_timeout=30) as ws:
        opened.set()
        async for frame in ws:
            inbox.feed(index, frame if isinstance(frame, bytes) else frame.encode())


def _raise_failures(tasks: list[asyncio.Task[None]]) -> None:
    """Stop the run if a subscriber failed before the measurement began."""
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise RuntimeError(f"a subscriber failed: {task.exception()!r}")


async def _post(client: httpx.AsyncClient, text: str) -> None:
    response = await client.post("/api/messages", json={"text": text})
    response.raise_for_status()


async def fanout(
    port: int,
    kind: str,
    subscribers: int,
    messages: int,
    rate: float,
    memory: Callable[[], int],
    timeout: float = 30,
    duration: float | None = None,
) -> FanoutResult:
    """Subscribe *subscribers* over *kind* (sse, ws, or both: every other one
    over each); post *messages* at *rate*/s, and stop posting after
    *duration* seconds if that comes first (a server slower than *rate*)."""
    kinds = {"sse": [sse_subscriber], "ws": [ws_subscriber]}
    subscribers_of = kinds.get(kind, [sse_subscriber, ws_subscriber])
    inbox = Inbox(subscribers)
    rss_before = memory()
    opened = [asyncio.Event() for _ in range(subscribers)]
    gate = asyncio.Semaphore(100)  # open at most 100 at once: the listen backlog

    async def one(index: int) -> None:
        subscribe = subscribers_of[index % len(subscribers_of)]
        async with gate:
            task = asyncio.create_task(subscribe(port, index, inbox, opened[index]))
            waiter = asyncio.create_task(opened[index].wait())
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
        await task

    tasks = [asyncio.create_task(one(index)) for index in range(subscribers)]
    start = time.perf_counter()
    rss_subscribed = rss_before
    sent: dict[int, float] = {}
    posting = 0.0
    async with httpx.AsyncClient(
        base_url=f"http://{HOST}:{port}", timeout=30
    ) as client:
        try:
            deadline = time.perf_counter() + timeout
            while not all(event.is_set() for event in opened):
                _raise_failures(tasks)
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"subscribers not connected within {timeout}s")
                await asyncio.sleep(0.05)
            # Subscribed means a message reaches it: post warm-ups until all have one.
            while not all(inbox.warm):
                _raise_failures(tasks)
                if time.perf_counter() > deadline:
                    raise RuntimeError(
                        f"{inbox.warm.count(False)} subscribers never subscribed"
                    )
                await _post(client, "fanout-0-0")
                await asyncio.sleep(0.5)
            rss_subscribed = memory()
            start = time.perf_counter()
            for seq in range(1, messages + 1):
                await asyncio.sleep(
                    max(0.0, start + (seq - 1) / rate - time.perf_counter())
                )
                if duration is not None and time.perf_counter() - start >= duration:
                    break
                sent[seq] = time.perf_counter()
                await _post(client, f"fanout-1-{seq}")
            posting = time.perf_counter() - start
            messages = len(sent)
            deadline = time.perf_counter() + timeout
            while time.perf_counter() < deadline:
                if all(len(got) == messages for got in inbox.received):
                    break
                if any(task.done() for task in tasks):
                    break  # a subscriber was disconnected: what it missed is lost
                await asyncio.sleep(0.05)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    latencies = [
        (when - sent[seq]) * 1000
        for got in inbox.received
        for seq, when in got.items()
        if seq in sent
    ]
    delivered = len(latencies)
    last = max((when for got in inbox.received for when in got.values()), default=start)
    quantiles = (
        statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    )
    return FanoutResult(
        subscribers=subscribers,
        messages=messages,
        delivered=delivered,
        lost=subscribers * messages - delivered,
        p50_ms=quantiles[49],
        p99_ms=quantiles[98],
        deliveries_per_s=delivered / (last - start) if last > start else 0.0,
        bytes_per_subscriber=(rss_subscribed - rss_before) / subscribers,
        posted_per_s=len(sent) / posting if sent and posting > 0 else 0.0,
    )
