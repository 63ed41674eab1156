"""Hypercorn's TCP connections, with a bound on every wait for a client.

Hypercorn 0.18 writes to a client and waits, without limit, until the client
has taken the bytes. A client that stops reading (a stuck browser tab, a
frozen process, a peer that vanished without a FIN) therefore holds its
connection, its buffers and the task streaming to it for ever, and keeps the
server from stopping: closing such a connection waits for the same bytes.

:func:`bound_writes` gives every connection three limits:

* its kernel send buffer is ``SEND_BUFFER_BYTES`` (Linux doubles it for its
  own bookkeeping) instead of growing to 4 MiB: what a client that stopped
  reading can pin, and how soon the server notices;
* a write that waits more than ``SEND_TIMEOUT`` seconds for the client to
  take bytes drops the connection at once, buffers and all, instead of
  waiting for them to drain;
* :func:`drop_all` drops every connection still open, which the server calls
  when the grace period after SIGTERM is over.

A smaller buffer caps one connection's throughput at about its size per
round trip (128 KiB at 50 ms: 2.5 MB/s), far above what this service's
responses need; raise it for large downloads over long distances.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import ClassVar

from hypercorn.asyncio import run as hypercorn_run
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.events import Closed, Event, RawData, Updated

logger = logging.getLogger(__name__)

SEND_BUFFER_BYTES = 128 * 1024
# A write to a client that has gone: reset, or a transport already closed.
CLIENT_GONE = (ConnectionError, RuntimeError)


class BoundedTCPServer(TCPServer):
    """A Hypercorn connection whose writes wait at most ``send_timeout``."""

    send_timeout: ClassVar[float] = 10.0
    open_connections: ClassVar[set[BoundedTCPServer]] = set()
    slow_clients_dropped: ClassVar[int] = 0  # reported by metrics.py

    async def run(self) -> None:
        """Serve the connection, known to :func:`drop_all` while it is open."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        self.open_connections.add(self)
        try:
            await super().run()
        finally:
            self.open_connections.discard(self)

    async def protocol_send(self, event: Event) -> None:
        """Write *event*'s bytes; drop the client if it takes none for too long."""
        if not isinstance(event, RawData):
            if isinstance(event, Updated) and self.writer.transport.is_closing():
                # A stream ended as its connection closes: no idle timer to
                # restart, and Hypercorn's would fail on the closing task group.
                return
            await super().protocol_send(event)
            return
        if self.send_lock.locked() or self.writer.transport.get_write_buffer_size():
            # Bytes are already waiting for this client: queue behind them.
            async with self.send_lock:
                await self._write(event.data)
        else:
            await self._write(event.data)

    async def _write(self, data: bytes) -> None:
        try:
            self.writer.write(data)
            transport = self.writer.transport
            if not (transport.get_write_buffer_size() or transport.is_closing()):
                # The kernel took every byte: the common case, with no timer
                # to arm (one per write costs more than the write itself).
                return
            async with asyncio.timeout(self.send_timeout):
                await self.writer.drain()
        except TimeoutError:
            logger.warning(
                "dropped a client that stopped reading",
                extra={
                    "client": self.writer.get_extra_info("peername"),
                    "send_timeout": self.send_timeout,
                    "unsent_bytes": self.writer.transport.get_write_buffer_size(),
                },
            )
            BoundedTCPServer.slow_clients_dropped += 1
            self.drop()
            await self.protocol.handle(Closed())
        except CLIENT_GONE:
            await self.protocol.handle(Closed())

    def drop(self) -> None:
        """Close the socket now, discarding what the client has not taken."""
        self.writer.transport.abort()


def bound_writes(send_timeout: float) -> None:
    """Make Hypercorn serve every TCP connection as a :class:`BoundedTCPServer`."""
    BoundedTCPServer.send_timeout = send_timeout
    hypercorn_run.TCPServer = BoundedTCPServer  # type: ignore[attr-defined]


def drop_all() -> int:
    """Drop every open connection; return how many there were."""
    connections = tuple(BoundedTCPServer.open_connections)
    for connection in connections:
        connection.drop()
    return len(connections)
