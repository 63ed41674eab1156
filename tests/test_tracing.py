"""Tracing exports real spans over OTLP/HTTP to a receiver the test runs.

The receiver (``otlp.py``) decodes each export as a collector would. A
booted service with ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at it must send
one trace per request, whose spans include the request and (with a database) its INSERT,
a span per WebSocket connection, and the trace id in the request's JSON log
line; with ``OTEL_SDK_DISABLED=true`` it must send nothing and log no trace
id. A collector that is down, or stalled (it takes connections and never
answers, as a frozen process does), must cost the requests nothing and
leave the shutdown within its bound. Every answer of every question is
covered once (``cover=1``).
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import connect

from .generated import Service
from .matrix import Combination
from .otlp import otlp_receiver
from .projects import ProjectFactory, matrix_params
from .services import Databases

pytestmark = pytest.mark.slow


def log_line(service: Service, message: str, timeout: float = 10) -> dict[str, Any]:
    """The service's JSON log line whose message is *message*, once written:
    the access log writes its lines in batches, after the response."""
    deadline = time.monotonic() + timeout
    while True:
        for line in service.log().splitlines():
            if line.startswith("{") and json.loads(line)["message"] == message:
                return json.loads(line)
        if time.monotonic() > deadline:
            raise AssertionError(f"no log line {message!r} in:\n{service.log()}")
        time.sleep(0.05)


def traced_env(
    combination: Combination, databases: Databases, endpoint: str, **more: str
) -> dict[str, str]:
    """Settings that export a service's spans to *endpoint* at once (every
    0.1 s), with JSON log lines, plus *more*."""
    return {
        **databases.env(combination),
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # milliseconds
        "LOG_JSON": "true",
        **more,
    }


def post(service: Service, text: str) -> None:
    with service.client() as http:
        assert http.post("/api/messages", json={"text": text}).status_code == 201


@pytest.mark.parametrize("combination", matrix_params(cover=1))
def test_a_traced_service_exports_real_spans(
    combination: Combination, projects: ProjectFactory, databases: Databases
) -> None:
    project = projects.installed(combination)
    with otlp_receiver() as (receiver, endpoint):
        env = traced_env(combination, databases, endpoint)
        with project.serve(env) as service:
            post(service, "traced")
            request = receiver.wait_for("POST /api/messages")
            assert request.attributes["http.route"] == "/api/messages"
            line = log_line(service, "POST /api/messages 201")
            assert line["trace_id"] == request.trace_id
            if combination.database != "none":
                children = receiver.trace(request.trace_id)
                inserts = [
                    span
                    for span in children
                    if "INSERT INTO messages" in span.attributes.get("db.statement", "")
                ]
                assert inserts, [span.name for span in children]
            if combination.websockets:
                url = service.base_url.replace("http://", "ws://") + "/ws"
                with connect(url, open_timeout=10) as socket:
                    socket.send(json.dumps({"text": "over a traced socket"}))
                    socket.recv(timeout=10)
                receiver.wait_for("WEBSOCKET /ws")


@pytest.mark.parametrize("combination", matrix_params(cover=1)[:1])
def test_tracing_switched_off_sends_nothing(
    combination: Combination, projects: ProjectFactory, databases: Databases
) -> None:
    project = projects.installed(combination)
    with otlp_receiver() as (receiver, endpoint):
        env = traced_env(combination, databases, endpoint, OTEL_SDK_DISABLED="true")
        with project.serve(env) as service:
            post(service, "not traced")
            line = log_line(service, "POST /api/messages 201")
            time.sleep(1)  # ten times the export delay of a traced service
        assert "trace_id" not in line
        assert receiver.exports == 0


@contextlib.contextmanager
def collector(state: str) -> Iterator[str]:
    """The URL of a collector that is ``down`` (nothing listens) or
    ``stalled`` (a socket listens, and nobody ever accepts or answers)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        if state == "stalled":
            sock.listen(64)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("state", ["down", "stalled"])
@pytest.mark.parametrize("combination", matrix_params(cover=1)[:1])
def test_a_collector_down_or_stalled_costs_the_requests_nothing(
    combination: Combination,
    state: str,
    projects: ProjectFactory,
    databases: Databases,
) -> None:
    project = projects.installed(combination)
    grace = 2.0
    with collector(state) as endpoint:
        env = traced_env(combination, databases, endpoint, GRACEFUL_TIMEOUT=str(grace))
        with project.serve(env) as service:
            slowest = 0.0
            with service.client() as http:
                for number in range(200):
                    started = time.monotonic()
                    response = http.post("/api/messages", json={"text": f"m{number}"})
                    slowest = max(slowest, time.monotonic() - started)
                    assert response.status_code == 201, response.text
            assert slowest < 1.0, f"a request took {slowest:.2f}s"
            code, seconds = service.stop(signal.SIGTERM)
            assert code == 0, service.log()
            assert seconds < grace + 1, f"SIGTERM took {seconds:.1f}s"
            assert "Traceback" not in service.log()
