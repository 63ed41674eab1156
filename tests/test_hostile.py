"""Hostile input against a booted default service, byte for byte.

Each row of :data:`REQUESTS` is sent raw over its own TCP connection (HTTP/1.1
as an attacker writes it, not as a client library would tidy it). The promise
under test: no input gets a 5xx (but 501 for a transfer coding the server does
not implement, which RFC 9112 section 6.1 prescribes), every answer the
application gives is JSON, nothing logs a traceback, and the process goes on
serving. Rows whose answer comes from Hypercorn's HTTP parser before the app
sees the request (``server=True``) have an empty body: Hypercorn 0.18 writes
those itself (documented in the generated README, "Security").
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from .conftest import worker_group
from .generated import Project, Service
from .matrix import default_answers

# One worker runs the table and then the check that the service survived it,
# with the default combination's install.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group(worker_group(default_answers())),
]

WS_HANDSHAKE = (
    "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
)
DEEP = 30_000  # levels of JSON nesting: 60 KB, under MAX_CONTENT_LENGTH


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
        "json-nested-too-deep", post("/api/messages", b"[" * DEEP + b"]" * DEEP), 400
    ),
    Hostile(
        "json-deep-object",
        post("/api/messages", b'{"a":' * (DEEP // 3) + b"1" + b"}" * (DEEP // 3)),
        400,
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


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool  # the server closed the connection after the answer
    rest: bytes  # what came after the answer (a smuggled request's answer)


def exchange(base_url: str, raw: bytes, timeout: float = 5) -> Answer:
    """Send *raw*; read the first answer, then whatever follows it until the
    server closes the connection or stays quiet for 0.3 s."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as s:
        s.sendall(raw)
        received, closed = b"", False
        while not closed:
            head, found, rest = received.partition(b"\r\n\r\n")
            if found and len(rest) >= content_length(head):
                s.settimeout(0.3)  # the answer is complete: anything more?
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                chunk = b""
            closed = not chunk
            received += chunk
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


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


@pytest.fixture(scope="module")
def service(default_project: Project) -> Iterator[Service]:
    with default_project.serve() as service:
        yield service


@pytest.mark.parametrize("hostile", REQUESTS, ids=[h.name for h in REQUESTS])
def test_hostile_request_gets_a_clear_4xx(service: Service, hostile: Hostile) -> None:
    answer = exchange(service.base_url, hostile.raw)
    assert answer.status == hostile.status, answer
    if not hostile.server:
        assert answer.headers["content-type"] == "application/json", answer
        body = json.loads(answer.body)
        assert body["status"] == hostile.status
        assert body["message"]
    if hostile.closes:
        assert answer.closed, f"connection kept open after {hostile.name}"
        assert answer.rest == b"", f"a request after {hostile.name} was answered"


def test_no_traceback_and_still_serving(service: Service) -> None:
    """Runs after the table (same module): the process survived all of it."""
    for hostile in REQUESTS:
        exchange(service.base_url, hostile.raw)
    assert service.process is not None
    assert service.process.poll() is None
    answer = exchange(service.base_url, get("/health/live"))
    assert answer.status == 200
    assert "Traceback" not in service.log()
    assert " 500 " not in service.log()
    assert len(REQUESTS) >= 50
