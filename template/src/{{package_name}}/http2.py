"""HTTP/2 under Hypercorn: the two limits it lacks.

Every port accepts HTTP/2 (over TLS, or cleartext h2c, which Hypercorn has no
switch for), and Hypercorn 0.18 leaves two abuses unchecked:

* **Rapid reset** (CVE-2023-44487): a client opens a stream and cancels it at
  once, thousands of times per second on one connection. Each stream starts
  a request in the app before its cancel arrives, and cancelled streams never
  count against ``h2_max_concurrent_streams``; Hypercorn's priority tree gives
  up after 1,000 leftovers, with a traceback. A connection whose client
  resets more than ``MAX_RESETS`` streams within ``RESET_WINDOW`` seconds is
  closed with ``GOAWAY`` (``ENHANCE_YOUR_CALM``) before any request of the
  offending read reaches the app (Netty's limits; a browser cancels a
  stream now and then, on a navigation or an aborted fetch).
* **Oversized headers**: ``h2_max_header_list_size`` (hypercorn.toml) is
  announced to clients but never applied (h2 keeps its own 64 KiB, past
  which it ends the connection). A request over it is answered 431 with the
  service's JSON error body and never reaches the app, as an HTTP/1.1
  request over ``h11_max_incomplete_size`` is refused.

:func:`guard_http2` makes Hypercorn serve every HTTP/2 connection as a
:class:`GuardedH2Protocol`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from typing import Any, TypeGuard

import h2.errors
import h2.events
import h2.exceptions
import hypercorn.protocol
from hypercorn.events import Closed
from hypercorn.protocol.h2 import H2Protocol

logger = logging.getLogger(__name__)

MAX_RESETS = 200
RESET_WINDOW = 30.0  # seconds
# RFC 9113 section 6.5.2: each header counts its name, its value and 32.
HEADER_OVERHEAD = 32
TOO_LARGE = json.dumps(
    {
        "status": 431,
        "error": "Request Header Fields Too Large",
        "message": "The request's headers are larger than the server accepts.",
    }
).encode()


def header_list_size(headers: list[tuple[bytes, bytes]]) -> int:
    """The size of a header list as HTTP/2 counts it."""
    return sum(len(name) + len(value) + HEADER_OVERHEAD for name, value in headers)


class GuardedH2Protocol(H2Protocol):
    """An HTTP/2 connection that refuses rapid resets and oversized headers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.resets = 0
        self.window_started = 0.0

    async def _handle_events(self, events: list[h2.events.Event]) -> None:
        """Handle *events*, minus what the limits refuse."""
        resets = sum(
            isinstance(event, h2.events.StreamReset) and event.remote_reset
            for event in events
        )
        if resets and self._over_reset_budget(resets):
            await self._enhance_your_calm()
            return
        # A refused stream is reset at once, after which h2 drops its frames
        # itself; only those already read with its headers are skipped here.
        refused: set[int] = set()
        accepted = []
        for event in events:
            if self._headers_too_large(event):
                refused.add(event.stream_id)
                await self._refuse_headers(event.stream_id)
            elif getattr(event, "stream_id", None) not in refused:
                accepted.append(event)
            elif isinstance(event, h2.events.DataReceived):
                # Unread, but counted against the connection's window.
                self.connection.acknowledge_received_data(
                    event.flow_controlled_length, event.stream_id
                )
        await super()._handle_events(accepted)

    def _over_reset_budget(self, resets: int) -> bool:
        now = time.monotonic()
        if now - self.window_started > RESET_WINDOW:
            self.window_started, self.resets = now, 0
        self.resets += resets
        return self.resets > MAX_RESETS

    async def _enhance_your_calm(self) -> None:
        logger.warning(
            "closed an HTTP/2 connection that reset too many streams",
            extra={
                "client": self.client,
                "resets": self.resets,
                "window_seconds": RESET_WINDOW,
            },
        )
        self.connection.close_connection(
            error_code=h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
        )
        await self._flush()
        await self.send(Closed())

    def _headers_too_large(
        self, event: h2.events.Event
    ) -> TypeGuard[h2.events.RequestReceived]:
        if not isinstance(event, h2.events.RequestReceived):
            return False
        headers = event.headers or []
        return header_list_size(headers) > self.config.h2_max_header_list_size

    async def _refuse_headers(self, stream_id: int) -> None:
        """Answer 431 and stop the stream (its body, if any, is not read)."""
        self.connection.send_headers(
            stream_id,
            [
                (b":status", b"431"),
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(TOO_LARGE)),
            ],
        )
        self.connection.send_data(stream_id, TOO_LARGE, end_stream=True)
        with contextlib.suppress(h2.exceptions.StreamClosedError):
            # The client is still sending a body: it need not (RFC 9113 8.1).
            self.connection.reset_stream(
                stream_id, error_code=h2.errors.ErrorCodes.NO_ERROR
            )
        await self._flush()


def guard_http2() -> None:
    """Make Hypercorn serve every HTTP/2 connection as a :class:`GuardedH2Protocol`."""
    hypercorn.protocol.H2Protocol = GuardedH2Protocol  # type: ignore[attr-defined]
