"""Hostile input against a booted service of each ``http`` answer, byte for byte.

Three tables, each row sent raw over its own TCP connection (as an attacker
writes it, not as a client library would tidy it):

* :data:`REQUESTS`, HTTP/1.1: no input gets a 5xx (but 501 for a transfer
  coding the server does not implement, which RFC 9112 section 6.1
  prescribes), every answer the application gives is JSON, and requests
  that make the framing ambiguous close the connection. Rows answered by
  Hypercorn's HTTP/1.1 parser before the app sees the request
  (``server=True``) have an empty body: Hypercorn 0.18 writes those itself
  (documented in the generated README, "Security").
* :data:`WS_FRAMES`, WebSocket frames that break RFC 6455: each gets a close
  frame with the code section 7.4.1 gives it (1002, 1007, 1009).
* :data:`H2_FRAMES`, HTTP/2 (cleartext, prior knowledge; every ``http``
  answer accepts it): protocol violations end the connection with ``GOAWAY``
  and the RFC 9113 error code, rapid reset with ``ENHANCE_YOUR_CALM``, and
  requests the app refuses get its JSON 4xx.

After all three, nothing has logged a traceback or a 500 and the process
still serves.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import hpack
import pytest

from .generated import Service
from .matrix import default_answers
from .projects import ProjectFactory, matrix_params

pytestmark = pytest.mark.slow

DEFAULTS = default_answers()
# The default service under each ``http`` answer on each server (one xdist
# group per server: the serving questions do not split groups, see
# conftest.worker_group).
SERVICES = matrix_params(
    lambda c: c.but(http="h2", server="hypercorn") == DEFAULTS,
    vary=frozenset({"http"}),
)

WS_HANDSHAKE = (
    "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
)
DEEP = 30_000  # levels of JSON nesting: 60 KB, under MAX_CONTENT_LENGTH
# Python 3.13's json stops at the recursion limit: not valid JSON, 400. From
# 3.14 it parses as deep as the C stack allows, far deeper than a body under
# MAX_CONTENT_LENGTH can nest: valid JSON of the wrong shape, 422.
PYTHON = tuple(int(part) for part in DEFAULTS.python_version.split("."))
DEEP_STATUS = 400 if PYTHON < (3, 14) else 422


@dataclass(frozen=True)
class Hostile:
    """One malformed request and the answer it must get."""

    name: str
    raw: bytes
    status: int
    server: bool = False  # answered by Hypercorn's parser, not by the app
    closes: bool = False  # the server must close the connection after it


def post(path: str, body: bytes, content_type: str = "application/json") -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: h\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def get(path: str, headers: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: h\r\n{headers}\r\n".encode("latin-1")


REQUESTS = [
    # --- framing: request smuggling and broken bodies
    Hostile(
        "content-length-and-transfer-encoding",
        b"POST /api/messages HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
        b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        + get("/health/live"),  # smuggled: must never be answered
        400,
        closes=True,
    ),
    Hostile(
        "bad-chunk-size",
        b"POST /api/messages HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        400,
        server=True,
        closes=True,
    ),
    Hostile(
        "content-length-not-a-number",
        b"POST /api/messages HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n",
        400,
        server=True,
        closes=True,
    ),
    Hostile(
        "two-different-content-lengths",
        b"POST /api/messages HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n"
        b"Content-Length: 3\r\n\r\n{}",
        400,
        server=True,
        closes=True,
    ),
    Hostile(
        "unknown-transfer-coding",
        b"POST /api/messages HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
        501,
        server=True,
        closes=True,
    ),
    Hostile(
        "declared-body-over-the-limit",
        b"POST /api/messages HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
        b"Content-Length: 10000000\r\n\r\n{",
        413,
        closes=True,
    ),
    # --- request line and headers
    Hostile("garbage-request-line", b"GARBAGE\r\n\r\n", 400, server=True, closes=True),
    Hostile(
        "header-without-colon",
        b"GET / HTTP/1.1\r\nHost: h\r\nno colon here\r\n\r\n",
        400,
        server=True,
        closes=True,
    ),
    Hostile(
        "nul-in-header-value",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-Thing: a\x00b\r\n\r\n",
        400,
        server=True,
        closes=True,
    ),
    Hostile(
        "space-before-colon",
        b"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
        400,
        server=True,
        closes=True,
    ),
    Hostile(
        "missing-host",
        b"GET /health/live HTTP/1.1\r\n\r\n",
        400,
        server=True,
        closes=True,
    ),
    Hostile(
        "http-version-not-a-number",
        b"GET / HTTP/one\r\nHost: h\r\n\r\n",
        400,
        server=True,
        closes=True,
    ),
    Hostile("unknown-method", get("/api/messages").replace(b"GET", b"BREW"), 405),
    # --- paths and query strings
    Hostile("path-traversal", get("/static/../../../../etc/passwd"), 404),
    Hostile("encoded-traversal", get("/static/..%2f..%2f..%2fetc%2fpasswd"), 404),
    Hostile("nul-in-path", get("/api/messages/%00"), 404),
    Hostile(
        "non-ascii-path", get("/api/messages/\u00e9"), 400, server=True, closes=True
    ),
    Hostile("id-beyond-64-bits", get("/api/messages/" + "9" * 30), 404),
    Hostile("id-negative", get("/api/messages/-1"), 404),
    Hostile("limit-not-a-number", get("/api/messages?limit=abc"), 422),
    Hostile("limit-negative", get("/api/messages?limit=-1"), 422),
    Hostile("limit-huge", get("/api/messages?limit=" + "9" * 40), 422),
    Hostile("limit-repeated", get("/api/messages?limit=1&limit=x"), 422),
    Hostile("query-bad-percent", get("/api/messages?limit=%zz"), 422),
    # --- bodies
    Hostile("json-truncated", post("/api/messages", b'{"text": '), 400),
    Hostile("json-empty", post("/api/messages", b""), 400),
    Hostile(
        "json-nested-deep",
        post("/api/messages", b"[" * DEEP + b"]" * DEEP),
        DEEP_STATUS,
    ),
    Hostile(
        "json-deep-object",
        post("/api/messages", b'{"a":' * (DEEP // 3) + b"1" + b"}" * (DEEP // 3)),
        DEEP_STATUS,
    ),
    Hostile("json-not-utf8", post("/api/messages", b'{"text": "\xff\xfe"}'), 400),
    Hostile("json-null", post("/api/messages", b"null"), 422),
    Hostile("json-array", post("/api/messages", b"[]"), 422),
    Hostile("json-number-huge", post("/api/messages", b"1" + b"0" * 5000), 400),
    Hostile("json-text-missing", post("/api/messages", b"{}"), 422),
    Hostile("json-text-not-a-string", post("/api/messages", b'{"text": 1}'), 422),
    Hostile("json-extra-field", post("/api/messages", b'{"text": "a", "x": 1}'), 422),
    Hostile("json-nul-in-text", post("/api/messages", b'{"text": "a\\u0000b"}'), 422),
    Hostile("json-lone-surrogate", post("/api/messages", b'{"text": "\\ud800"}'), 422),
    Hostile(
        "text-too-long", post("/api/messages", b'{"text": "' + b"x" * 5000 + b'"}'), 422
    ),
    Hostile("text-plain-body", post("/api/messages", b"hello", "text/plain"), 415),
    Hostile(
        "form-body",
        post("/api/messages", b"text=hi", "application/x-www-form-urlencoded"),
        415,
    ),
    Hostile(
        "latin1-charset",
        post("/api/messages", b'{"text": "\xe9"}', "application/json; charset=latin-1"),
        400,
    ),
    # --- realtime resume ids
    Hostile("last-event-id-non-ascii", get("/events", "Last-Event-ID: \xb2\r\n"), 400),
    Hostile(
        "last-event-id-5000-digits",
        get("/events", f"Last-Event-ID: {'9' * 5000}\r\n"),
        400,
    ),
    Hostile(
        "last-event-id-2-to-63", get("/events", f"Last-Event-ID: {2**63}\r\n"), 400
    ),
    Hostile("last-event-id-negative", get("/events", "Last-Event-ID: -5\r\n"), 400),
    Hostile("events-after-words", get("/events?after=latest"), 400),
    Hostile("ws-after-negative", get("/ws?after=-1", WS_HANDSHAKE), 400),
    Hostile("ws-after-huge", get(f"/ws?after={'9' * 40}", WS_HANDSHAKE), 400),
    # --- cross-site WebSocket
    Hostile(
        "ws-from-another-origin",
        get("/ws", WS_HANDSHAKE + "Origin: https://evil.example\r\n"),
        403,
    ),
    Hostile("ws-from-origin-null", get("/ws", WS_HANDSHAKE + "Origin: null\r\n"), 403),
    Hostile("ws-origin-not-a-url", get("/ws", WS_HANDSHAKE + "Origin: ::::\r\n"), 403),
]


# --- WebSocket frames (RFC 6455) -------------------------------------------------

CLOSE, PING, TEXT, CONTINUATION = 0x8, 0x9, 0x1, 0x0


def ws_frame(
    opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True, rsv: int = 0
) -> bytes:
    """One WebSocket frame as a client sends it (masked), or as told."""
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    mask_bit = 0x80 if masked else 0
    if len(payload) < 126:
        head += bytes([mask_bit | len(payload)])
    elif len(payload) < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", len(payload))
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", len(payload))
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


@dataclass(frozen=True)
class BadFrame:
    """A WebSocket frame that breaks RFC 6455 and the close code it earns."""

    name: str
    frame: bytes
    code: int


WS_FRAMES = [
    BadFrame("text-not-utf8", ws_frame(TEXT, b"\xff\xfe"), 1007),
    BadFrame("text-truncated-utf8", ws_frame(TEXT, "é".encode()[:1]), 1007),
    BadFrame("unmasked", ws_frame(TEXT, b"hi", masked=False), 1002),
    BadFrame("reserved-bits", ws_frame(TEXT, b"hi", rsv=4), 1002),
    BadFrame("reserved-opcode", ws_frame(0x3, b"hi"), 1002),
    BadFrame("reserved-control-opcode", ws_frame(0xB, b""), 1002),
    BadFrame("fragmented-ping", ws_frame(PING, b"hi", fin=False), 1002),
    BadFrame("ping-over-125-bytes", ws_frame(PING, b"x" * 126), 1002),
    BadFrame("continuation-first", ws_frame(CONTINUATION, b"hi"), 1002),
    BadFrame("close-code-999", ws_frame(CLOSE, struct.pack("!H", 999)), 1002),
    BadFrame("close-one-byte", ws_frame(CLOSE, b"\x03"), 1002),
    BadFrame("close-reason-not-utf8", ws_frame(CLOSE, b"\x03\xe8\xff"), 1007),
    BadFrame("message-over-the-limit", ws_frame(TEXT, b"x" * 70_000), 1009),
]


def ws_close_code(base_url: str, frame: bytes) -> int | None:
    """Open /ws, send *frame*, return the code of the server's close frame."""
    handshake = b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n" + WS_HANDSHAKE.encode()
    received, _ = exchange_raw(
        base_url, handshake + b"\r\n", frame, until=lambda r: ws_close(r) is not None
    )
    assert received.startswith(b"HTTP/1.1 101"), received[:200]
    return ws_close(received)


def ws_close(received: bytes) -> int | None:
    """The code of the close frame after the handshake's answer, if any yet."""
    _, _, rest = received.partition(b"\r\n\r\n")
    while len(rest) >= 2:
        opcode, length, start = rest[0] & 0x0F, rest[1] & 0x7F, 2
        if length == 126:
            length, start = struct.unpack("!H", rest[2:4])[0], 4
        elif length == 127:
            length, start = struct.unpack("!Q", rest[2:10])[0], 10
        if len(rest) < start + length:
            return None  # the rest of the frame is still on its way
        payload, rest = rest[start : start + length], rest[start + length :]
        if opcode == CLOSE:
            return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
    return None


# --- HTTP/2 frames (RFC 9113) ----------------------------------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS = 0x0, 0x1, 0x2, 0x3, 0x4
H2_PING, GOAWAY, WINDOW_UPDATE, H2_CONTINUATION = 0x6, 0x7, 0x8, 0x9
END_STREAM, END_HEADERS = 0x1, 0x4
ERRORS = {
    "PROTOCOL_ERROR": 0x1,
    "FLOW_CONTROL_ERROR": 0x3,
    "STREAM_CLOSED": 0x5,
    "FRAME_SIZE_ERROR": 0x6,
    "CANCEL": 0x8,
    "ENHANCE_YOUR_CALM": 0xB,
}


def h2_frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return (
        len(payload).to_bytes(3, "big")
        + bytes([kind, flags])
        + stream.to_bytes(4, "big")
        + payload
    )


def h2_request(
    stream: int,
    path: str = "/health/live",
    *,
    method: str = "GET",
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes | None = None,
) -> bytes:
    """HEADERS (and DATA) for one request; *headers* are sent as given."""
    fields = [
        (":method", method),
        (":path", path),
        (":scheme", "http"),
        (":authority", "127.0.0.1"),
        *headers,
    ]
    block = hpack.Encoder().encode(fields)
    pieces = [block[i : i + 16384] for i in range(0, len(block), 16384)]
    out = b""
    for index, piece in enumerate(pieces):  # HEADERS, then CONTINUATION frames
        flags = END_HEADERS if index == len(pieces) - 1 else 0
        if index == 0:
            flags |= END_STREAM if body is None else 0
        out += h2_frame(H2_CONTINUATION if index else HEADERS, flags, stream, piece)
    if body is not None:
        chunks = [body[i : i + 16384] for i in range(0, len(body), 16384)] or [b""]
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            out += h2_frame(DATA, END_STREAM if last else 0, stream, chunk)
    return out


def h2_post(stream: int, body: bytes, content_type: str = "application/json") -> bytes:
    headers = (("content-type", content_type), ("content-length", str(len(body))))
    return h2_request(
        stream, "/api/messages", method="POST", headers=headers, body=body
    )


def rapid_reset(streams: int) -> bytes:
    """Open and cancel *streams* streams, never waiting for an answer."""
    encoder = hpack.Encoder()
    fields = [
        (":method", "GET"),
        (":path", "/"),
        (":scheme", "http"),
        (":authority", "h"),
    ]
    return b"".join(
        h2_frame(HEADERS, END_HEADERS | END_STREAM, sid, encoder.encode(fields))
        + h2_frame(RST_STREAM, 0, sid, ERRORS["CANCEL"].to_bytes(4, "big"))
        for sid in range(1, 2 * streams, 2)
    )


@dataclass(frozen=True)
class BadH2:
    """HTTP/2 frames and what they earn: ``GOAWAY`` with an error code, or an
    answer on stream 1 (a status, JSON but for 200)."""

    name: str
    frames: bytes
    goaway: str | None = None
    status: int | None = None


H2_FRAMES = [
    BadH2("rapid-reset", rapid_reset(1000), goaway="ENHANCE_YOUR_CALM"),
    BadH2("data-on-stream-0", h2_frame(DATA, 0, 0, b"x"), goaway="PROTOCOL_ERROR"),
    BadH2(
        "window-update-of-0",
        h2_frame(WINDOW_UPDATE, 0, 0, bytes(4)),
        goaway="PROTOCOL_ERROR",
    ),
    BadH2(
        "settings-window-over-2-to-31",
        h2_frame(SETTINGS, 0, 0, struct.pack("!HI", 0x4, 2**31)),
        goaway="FLOW_CONTROL_ERROR",
    ),
    BadH2(
        "settings-length-not-a-multiple-of-6",
        h2_frame(SETTINGS, 0, 0, b"\x00\x04\x00"),
        goaway="FRAME_SIZE_ERROR",
    ),
    BadH2(
        "frame-over-max-frame-size",
        h2_frame(DATA, 0, 1, b"x" * 20_000),
        goaway="FRAME_SIZE_ERROR",
    ),
    BadH2(
        "ping-of-7-bytes", h2_frame(H2_PING, 0, 0, bytes(7)), goaway="FRAME_SIZE_ERROR"
    ),
    BadH2("even-stream-id", h2_request(2), goaway="PROTOCOL_ERROR"),
    BadH2(
        "stream-id-going-down", h2_request(5) + h2_request(3), goaway="PROTOCOL_ERROR"
    ),
    BadH2(
        "reset-of-an-idle-stream",
        h2_frame(RST_STREAM, 0, 7, ERRORS["CANCEL"].to_bytes(4, "big")),
        goaway="PROTOCOL_ERROR",
    ),
    BadH2(
        "stream-depends-on-itself",
        h2_frame(PRIORITY, 0, 1, struct.pack("!IB", 1, 16)),
        goaway="PROTOCOL_ERROR",
    ),
    BadH2(
        "uppercase-header-name",
        h2_request(1, headers=(("X-Upper", "1"),)),
        goaway="PROTOCOL_ERROR",
    ),
    BadH2(
        "connection-specific-header",
        h2_request(1, headers=(("connection", "keep-alive"),)),
        goaway="PROTOCOL_ERROR",
    ),
    BadH2(
        "missing-path",
        h2_frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            1,
            hpack.Encoder().encode([(":method", "GET"), (":scheme", "http")]),
        ),
        goaway="PROTOCOL_ERROR",
    ),
    BadH2(
        "continuation-flood",
        h2_frame(HEADERS, 0, 1, hpack.Encoder().encode([(":method", "GET")]))
        + b"".join(h2_frame(H2_CONTINUATION, 0, 1, bytes(16384)) for _ in range(100)),
        goaway="PROTOCOL_ERROR",
    ),
    BadH2(
        "content-length-not-the-body",
        h2_request(
            1,
            "/api/messages",
            method="POST",
            headers=(("content-type", "application/json"), ("content-length", "10")),
            body=b"{}",
        ),
        goaway="PROTOCOL_ERROR",
    ),
    BadH2(
        "headers-over-the-list-size",
        h2_request(1, headers=(("x-big", "a" * 20_000),)),
        status=431,
    ),
    BadH2(
        "headers-over-the-list-size-with-a-body",
        h2_request(
            1,
            "/api/messages",
            method="POST",
            headers=(("x-big", "a" * 20_000),),
            body=b"{}" * 20_000,
        ),
        status=431,
    ),
    BadH2(
        "headers-over-64-kib",
        h2_request(1, headers=(("x-big", "a" * 70_000),)),
        goaway="ENHANCE_YOUR_CALM",
    ),
    BadH2(
        "json-nested-deep", h2_post(1, b"[" * DEEP + b"]" * DEEP), status=DEEP_STATUS
    ),
    BadH2("text-plain-body", h2_post(1, b"hi", "text/plain"), status=415),
    BadH2(
        "unknown-frame-type-is-ignored",
        h2_frame(0xFA, 0, 0, b"junk") + h2_request(1),
        status=200,
    ),
]


@dataclass
class H2Outcome:
    goaway: str | None = None  # the GOAWAY's error code, by name
    status: int | None = None  # stream 1's status
    body: bytes = b""  # stream 1's body
    ended: bool = False  # stream 1 ended (END_STREAM or RST_STREAM)


def h2_outcome(base_url: str, frames: bytes) -> H2Outcome:
    """Send the preface, empty SETTINGS and *frames*; read until a GOAWAY or
    the end of stream 1."""
    received, _ = exchange_raw(
        base_url,
        PREFACE + h2_frame(SETTINGS, 0, 0) + frames,
        until=h2_done,
    )
    return h2_parse(received)


def h2_done(received: bytes) -> bool:
    outcome = h2_parse(received)
    return outcome.goaway is not None or outcome.ended


def h2_parse(received: bytes) -> H2Outcome:
    """What the server's frames in *received* say (whole frames only)."""
    outcome, decoder = H2Outcome(), hpack.Decoder()
    names = {code: name for name, code in ERRORS.items()} | {0: "NO_ERROR"}
    while len(received) >= 9:
        length = int.from_bytes(received[:3], "big")
        if len(received) < 9 + length:
            break  # the rest of the frame is still on its way
        kind, flags = received[3], received[4]
        stream = int.from_bytes(received[5:9], "big") & 0x7FFFFFFF
        payload, received = received[9 : 9 + length], received[9 + length :]
        if kind == GOAWAY:
            code = int.from_bytes(payload[4:8], "big")
            outcome.goaway = names.get(code, hex(code))
        elif stream == 1 and kind in (HEADERS, DATA, RST_STREAM):
            if kind == HEADERS:
                fields: Any = dict(decoder.decode(payload))
                outcome.status = int(fields[":status"])
            elif kind == DATA:
                outcome.body += payload
            outcome.ended |= kind == RST_STREAM or bool(flags & END_STREAM)
    return outcome


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool  # the server closed the connection after the answer
    rest: bytes  # what came after the answer (a smuggled request's answer)


def exchange_raw(
    base_url: str,
    *raw: bytes,
    until: Callable[[bytes], bool],
    quiet: float = 0.0,
    timeout: float = 5,
) -> tuple[bytes, bool]:
    """Send each of *raw* in turn, then read until *until* says the answer is
    complete (and, given *quiet*, on until the server stays quiet that long),
    the server closes the connection, or *timeout* seconds pass. Return what
    came and whether the server closed the connection."""
    parts = urlsplit(base_url)
    received = b""
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as s:
        for index, chunk in enumerate(raw):
            if index:  # wait for the answer to the one before (a handshake)
                while b"\r\n\r\n" not in received:
                    if not (head := s.recv(65536)):
                        return received, True
                    received += head
            try:
                s.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break  # closed on an earlier part: what it said is read below
        while True:
            if until(received):
                if not quiet:
                    return received, False
                s.settimeout(quiet)  # the answer is complete: anything more?
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                return received, False
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return received, True
            received += chunk


def exchange(base_url: str, raw: bytes, timeout: float = 5) -> Answer:
    """Send *raw*; read the first answer, then whatever follows it until the
    server closes the connection or stays quiet for 0.2 s."""
    received, closed = exchange_raw(
        base_url, raw, until=answered, quiet=0.2, timeout=timeout
    )
    head, _, rest = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in header_lines)
    }
    length = content_length(head)
    return Answer(
        int(status_line.split()[1]), headers, rest[:length], closed, rest[length:]
    )


def answered(received: bytes) -> bool:
    """Whether *received* holds a whole HTTP/1.1 answer (head and body)."""
    head, found, rest = received.partition(b"\r\n\r\n")
    return bool(found) and len(rest) >= content_length(head)


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


@pytest.fixture(scope="module", params=SERVICES)
def service(
    request: pytest.FixtureRequest, projects: ProjectFactory
) -> Iterator[Service]:
    """The default service under one ``http`` answer, for all three tables."""
    with projects.installed(request.param).serve() as service:
        yield service


# Where Granian (hyper's HTTP/1.1 and HTTP/2, tungstenite's WebSockets)
# refuses otherwise than Hypercorn: as the RFCs allow, never with a 5xx, and
# the service's README says so.
GRANIAN_REQUESTS = {"unknown-transfer-coding": Hostile("", b"", 400, server=True)}
# Granian ends a WebSocket whose frames break the protocol with a close
# frame that carries no code (1005 to the client) instead of 1002 or 1007.
GRANIAN_NO_CLOSE_CODE = {
    "text-not-utf8",
    "text-truncated-utf8",
    "unmasked",
    "reserved-bits",
    "reserved-opcode",
    "reserved-control-opcode",
    "fragmented-ping",
    "ping-over-125-bytes",
    "continuation-first",
    "close-one-byte",
    "close-reason-not-utf8",
}
# Its HTTP/2 answers: a malformed request resets its stream (RFC 9113 §8.1.1)
# instead of ending the connection; bad frames end it with PROTOCOL_ERROR or
# ENHANCE_YOUR_CALM; 431 comes from Granian itself, without a JSON body.
RESET = H2Outcome(ended=True)
GRANIAN_H2 = {
    "settings-window-over-2-to-31": H2Outcome(goaway="PROTOCOL_ERROR"),
    "settings-length-not-a-multiple-of-6": H2Outcome(goaway="PROTOCOL_ERROR"),
    "ping-of-7-bytes": H2Outcome(goaway="PROTOCOL_ERROR"),
    "stream-depends-on-itself": RESET,
    "connection-specific-header": RESET,
    "content-length-not-the-body": RESET,
    "missing-path": H2Outcome(status=400),
    "continuation-flood": H2Outcome(goaway="ENHANCE_YOUR_CALM"),
    "headers-over-the-list-size": H2Outcome(status=431),
    "headers-over-the-list-size-with-a-body": H2Outcome(status=431),
}
GRANIAN_ANSWERS_ITSELF = {
    "headers-over-the-list-size",
    "headers-over-the-list-size-with-a-body",
}


def on_granian(service: Service) -> bool:
    return service.project.combination.server == "granian"


@pytest.mark.parametrize("hostile", REQUESTS, ids=[h.name for h in REQUESTS])
def test_hostile_request_gets_a_clear_4xx(service: Service, hostile: Hostile) -> None:
    answer = exchange(service.base_url, hostile.raw)
    if on_granian(service) and hostile.name in GRANIAN_REQUESTS:
        expected = GRANIAN_REQUESTS[hostile.name]
        hostile = replace(hostile, status=expected.status, server=expected.server)
    assert answer.status == hostile.status, answer
    if not hostile.server:
        assert answer.headers["content-type"] == "application/json", answer
        body = json.loads(answer.body)
        assert body["status"] == hostile.status
        assert body["message"]
    if hostile.closes:
        assert answer.closed, f"connection kept open after {hostile.name}"
        assert answer.rest == b"", f"a request after {hostile.name} was answered"


@pytest.mark.parametrize("bad", WS_FRAMES, ids=[f.name for f in WS_FRAMES])
def test_websocket_protocol_error_gets_its_close_code(
    service: Service, bad: BadFrame
) -> None:
    granian_gives_none = on_granian(service) and bad.name in GRANIAN_NO_CLOSE_CODE
    expected = 1005 if granian_gives_none else bad.code
    assert ws_close_code(service.base_url, bad.frame) == expected


@pytest.mark.parametrize("bad", H2_FRAMES, ids=[f.name for f in H2_FRAMES])
def test_http2_abuse_gets_its_rfc_answer(service: Service, bad: BadH2) -> None:
    outcome = h2_outcome(service.base_url, bad.frames)
    if on_granian(service) and service.project.combination.http == "h1":
        # HTTP/1.1 only: Granian speaks no HTTP/2 at all.
        assert outcome == H2Outcome(), outcome
        return
    if on_granian(service) and (expected := GRANIAN_H2.get(bad.name)):
        assert (outcome.goaway, outcome.status) == (expected.goaway, expected.status)
        assert outcome.ended or not expected.ended, outcome
        if bad.name in GRANIAN_ANSWERS_ITSELF:  # not the app's JSON
            return
        bad = replace(bad, goaway=expected.goaway, status=expected.status)
    assert outcome.goaway == bad.goaway, outcome
    assert outcome.status == bad.status, outcome
    if bad.status not in (None, 200):
        assert json.loads(outcome.body)["status"] == bad.status, outcome


def test_no_traceback_and_still_serving(service: Service) -> None:
    """Runs after the tables (same module): the process survived all of it,
    and survives it again from 16 hostile clients at once."""
    url = service.base_url
    sends = [
        *(partial(exchange, url, hostile.raw) for hostile in REQUESTS),
        *(partial(ws_close_code, url, frame.frame) for frame in WS_FRAMES),
        *(partial(h2_outcome, url, h2.frames) for h2 in H2_FRAMES),
    ]
    with ThreadPoolExecutor(max_workers=16) as pool:
        for done in [pool.submit(send) for send in sends]:
            done.result()
    assert service.process is not None
    assert service.process.poll() is None
    answer = exchange(service.base_url, get("/health/live"))
    assert answer.status == 200
    assert "Traceback" not in service.log()
    assert " 500 " not in service.log()
    assert len(REQUESTS) + len(WS_FRAMES) + len(H2_FRAMES) >= 60
