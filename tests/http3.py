"""A small HTTP/3 client on aioquic, for talking to a service over QUIC.

httpx has no HTTP/3, so the tests use aioquic's own protocol classes: one
QUIC connection, requests as streams, response headers and body chunks
delivered as they arrive (an event stream can be read while it is open).
The server's certificate is verified against the CA the test created.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import QuicEvent


@dataclass
class Response:
    """One HTTP/3 response: status, headers and the body chunks so far."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    chunks: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def body(self, timeout: float = 10) -> bytes:
        """The whole body, once the stream ends."""
        parts = []
        async with asyncio.timeout(timeout):
            while (chunk := await self.chunks.get()) is not None:
                parts.append(chunk)
        return b"".join(parts)


class H3ClientProtocol(QuicConnectionProtocol):
    """Routes HTTP/3 events to the response of their stream."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.http = H3Connection(self._quic)
        self.responses: dict[int, Response] = {}

    def quic_event_received(self, event: QuicEvent) -> None:
        for h3_event in self.http.handle_event(event):
            self._h3_event(h3_event)

    def _h3_event(self, event: H3Event) -> None:
        response = self.responses.get(getattr(event, "stream_id", -1))
        if response is None:
            return
        if isinstance(event, HeadersReceived):
            for name, value in event.headers:
                if name == b":status":
                    response.status = int(value)
                else:
                    response.headers[name.decode()] = value.decode()
            response.started.set()
        elif isinstance(event, DataReceived) and event.data:
            response.chunks.put_nowait(event.data)
        if getattr(event, "stream_ended", False):
            response.chunks.put_nowait(None)

    async def request(
        self,
        method: str,
        authority: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        timeout: float = 10,
    ) -> Response:
        """Send a request; return once the response headers have arrived."""
        stream_id = self._quic.get_next_available_stream_id()
        response = self.responses[stream_id] = Response()
        pseudo = [
            (b":method", method.encode()),
            (b":scheme", b"https"),
            (b":authority", authority.encode()),
            (b":path", path.encode()),
        ]
        extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        self.http.send_headers(stream_id, pseudo + extra, end_stream=not body)
        if body:
            self.http.send_data(stream_id, body, end_stream=True)
        self.transmit()
        async with asyncio.timeout(timeout):
            await response.started.wait()
        return response


@contextlib.asynccontextmanager
async def http3_client(
    host: str, port: int, ca_file: str, server_name: str = "localhost"
) -> AsyncIterator[H3ClientProtocol]:
    """A verified HTTP/3 connection to *host*:*port* (UDP)."""
    configuration = QuicConfiguration(
        is_client=True, alpn_protocols=H3_ALPN, server_name=server_name
    )
    configuration.load_verify_locations(ca_file)
    configuration.idle_timeout = 10.0  # a lost server fails the test in seconds
    async with connect(
        host, port, configuration=configuration, create_protocol=H3ClientProtocol
    ) as client:
        assert isinstance(client, H3ClientProtocol)
        yield client
