"""Many idle keep-alive connections: what each one costs a server in memory.

A bounded asyncio client opens the connections in batches (a server's listen
backlog is finite), sends one ``GET /health/live`` on each and reads the
answer, then leaves every connection open and idle. The server's memory is
read before the first connection and once all are open; a connection the
server refused, reset or left unanswered counts as failed. Every connection
is closed before the client returns.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

HOST = "127.0.0.1"
REQUEST = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
BATCH = 250  # connections opened at once, under every server's listen backlog


@dataclass
class IdleResult:
    connections: int  # asked for
    open: int  # answered and still open when all were open
    failed: int
    bytes_per_connection: float  # the server's RSS growth per open connection
    opened_per_s: float


async def _open_one(
    port: int, timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    """A connection with one answered request on it, or None."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(REQUEST)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
        return None
    if not head.startswith(b"HTTP/1.1 200"):
        writer.close()
        return None
    return reader, writer


async def hold_idle(
    port: int, connections: int, memory: Callable[[], int], timeout: float = 20
) -> IdleResult:
    """Open *connections* answered keep-alive connections to *port*, hold them."""
    before = memory()
    opened: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    failed = 0
    started = time.perf_counter()
    try:
        for first in range(0, connections, BATCH):
            count = min(BATCH, connections - first)
            batch = await asyncio.gather(
                *(_open_one(port, timeout) for _ in range(count))
            )
            opened += [pair for pair in batch if pair is not None]
            failed += sum(pair is None for pair in batch)
        elapsed = time.perf_counter() - started
        # Still open: the server may close idle connections (its keep-alive
        # timeout) while later batches open; those count as failed too.
        still_open = [pair for pair in opened if not pair[0].at_eof()]
        failed += len(opened) - len(still_open)
        grown = max(memory() - before, 0)
    finally:
        for _, writer in opened:
            writer.close()
        await asyncio.gather(
            *(writer.wait_closed() for _, writer in opened), return_exceptions=True
        )
    return IdleResult(
        connections=connections,
        open=len(still_open),
        failed=failed,
        bytes_per_connection=grown / len(still_open) if still_open else 0.0,
        opened_per_s=len(opened) / elapsed if elapsed else 0.0,
    )
