"""Hypercorn's protocols in every combination, as real clients meet them.

With a development certificate made by the command the generated README
gives: HTTP/1.1 and HTTP/2 over TLS (ALPN), cleartext HTTP/2 (prior knowledge
and the ``Upgrade: h2c`` path), HTTP/3 over QUIC with aioquic, the Alt-Svc
header that announces it, Server-Sent Events streaming over HTTP/2 and
HTTP/3, and WebSockets over HTTP/2 (RFC 8441). Every client verifies the
certificate against the CA the command made; nothing switches checks off.
Then the configuration mistakes that must stop start-up with a clear message.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from h2.settings import SettingCodes
from websockets.asyncio.client import connect

from .checks import check_routes, check_stops_cleanly
from .generated import CERTIFICATE_COMMAND, Project, Service, free_port, trusting
from .http2 import h2c_upgrade, tls_server_settings, websocket_over_h2
from .http3 import http3_client
from .matrix import Combination, combinations, covering_set, default_answers
from .projects import ProjectFactory, matrix_params
from .prometheus import Prometheus
from .realtime import event_stream
from .services import Databases

pytestmark = pytest.mark.slow

PYTHON = default_answers().python_version
# Serving answers that render the same code as the default one and differ
# from it only in the server's settings file: HTTP/1.1 alone is HTTP/2's code
# with HTTP/2 switched off. Their boot checks what that file does (no HTTP/2
# offered, no Alt-Svc, no QUIC), which no store, broker or endpoint changes,
# so on the default Python they boot on a covering set (every single answer,
# for each server); the same code boots with the default answer in every
# combination.
SETTINGS_ONLY = {"http": "h1"}


def settings_only(combination: Combination) -> bool:
    """Whether *combination* takes a SETTINGS_ONLY answer."""
    return any(combination.get(k) == v for k, v in SETTINGS_ONLY.items())


def boots(params: list[Any]) -> list[Any]:
    """*params*, those of the default Python with a SETTINGS_ONLY answer on a
    covering set for each server."""
    sampled = [
        p.values[0]
        for p in params
        if settings_only(p.values[0]) and p.values[0].python_version == PYTHON
    ]
    kept: set[str] = set()
    for server in {c.get("server") for c in sampled}:
        there = [c for c in sampled if c.get("server") == server]
        kept |= {c.id for c in covering_set(there, strength=1)}
    return [p for p in params if p.values[0] not in sampled or p.values[0].id in kept]


# Every combination but the Docker answer (Docker files do not change how
# `python -m <package>` serves); on a Python other than the default, a
# covering set (see ``INTERPRETER_QUESTION``); SETTINGS_ONLY answers on a
# covering set.
EVERY_SERVING = boots(matrix_params(vary=frozenset({"http"}), every_python=False))
# Each ``http`` answer with each server that serves it.
SERVERS = sorted({(c.http, c.server) for c in combinations()})


def tls_env(project: Project, projects: ProjectFactory) -> tuple[dict[str, str], str]:
    """Settings that turn TLS on with the worker's development certificate
    (made by the README's command), and its CA file."""
    settings = projects.certificate(project)
    ca_file = settings.pop("CA_BUNDLE")
    return {**settings, "TLS_PORT": str(free_port())}, ca_file


def wait_for_log(service: Service, text: str, count: int, timeout: float = 5) -> None:
    """Wait until *text* occurs *count* times in the service's log."""
    deadline = time.monotonic() + timeout
    while service.log().count(text) < count:
        assert time.monotonic() < deadline, f"{count}x {text!r} not logged"
        time.sleep(0.05)


async def post_message(base_url: str, text: str, **client: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10, **client) as http:
        response = await http.post("/api/messages", json={"text": text})
    assert response.status_code == 201, response.text
    return response.json()


async def sse_over_http2(service: Service, ca_file: str) -> None:
    """An event posted after the stream opened arrives while it stays open."""
    async with event_stream(
        service.tls_url, http2=True, verify=trusting(ca_file)
    ) as stream:
        assert stream.response.http_version == "HTTP/2"
        sent = await post_message(service.base_url, "streamed over HTTP/2")
        # Skip what a Redis broker may still deliver from before the stream.
        while (received := await stream.next_message())["id"] != sent["id"]:
            assert received["id"] < sent["id"]
        assert received == sent


async def sse_over_http3(service: Service, ca_file: str) -> None:
    """The same over QUIC: events arrive as chunks, not at the stream's end."""
    authority = f"localhost:{service.quic_port}"
    async with http3_client("127.0.0.1", service.quic_port, ca_file) as client:
        events = await client.request(
            "GET", authority, "/events", {"accept": "text/event-stream"}
        )
        assert events.status == 200
        assert events.headers["content-type"] == "text/event-stream"
        assert await asyncio.wait_for(events.chunks.get(), 10) == b"retry: 2000\n\n"
        sent = await post_message(service.base_url, "streamed over HTTP/3")
        received = b""
        while f"id: {sent['id']}\n".encode() not in received:
            chunk = await asyncio.wait_for(events.chunks.get(), 10)
            assert chunk is not None, "the stream ended instead of streaming"
            received += chunk
        data = [
            json.loads(line.removeprefix(b"data: "))
            for line in received.splitlines()
            if line.startswith(b"data: ")
        ]
        assert data[-1] == sent


async def http3_requests(service: Service, ca_file: str) -> None:
    """GET and POST over HTTP/3, the certificate verified against its CA."""
    authority = f"localhost:{service.quic_port}"
    async with http3_client("127.0.0.1", service.quic_port, ca_file) as client:
        live = await client.request("GET", authority, "/health/live")
        assert live.status == 200
        assert json.loads(await live.body()) == {"status": "ok"}
        created = await client.request(
            "POST",
            authority,
            "/api/messages",
            {"content-type": "application/json", "x-request-id": "over-h3"},
            json.dumps({"text": "over QUIC"}).encode(),
        )
        assert created.status == 201
        assert json.loads(await created.body())["text"] == "over QUIC"
        malformed = await client.request(
            "POST",
            authority,
            "/api/messages",
            {"content-type": "application/json"},
            b'{"text": ',
        )
        assert malformed.status == 400
        assert malformed.headers["content-type"] == "application/json"


@pytest.mark.parametrize("combination", EVERY_SERVING)
def test_serves_real_clients_over_every_protocol(
    combination: Combination,
    projects: ProjectFactory,
    databases: Databases,
    prometheus: Prometheus,
) -> None:
    """One boot per combination: its routes over cleartext HTTP/1.1, scraped
    by a real Prometheus, then each protocol its ``http`` answer enables,
    then SIGTERM."""
    project = projects.installed(combination)
    env, ca_file = tls_env(project, projects)
    debug = {"LOG_LEVEL": "DEBUG"}  # the broker logs each (un)subscription
    with (
        prometheus.scraping() as target,
        project.serve(
            {
                **env,
                **debug,
                **databases.env(combination),
                "METRICS_PORT": str(target.port),
            }
        ) as service,
    ):
        assert service.tls_url.endswith(f":{env['TLS_PORT']}"), service.log()
        check_routes(service)
        target.wait_for(
            "http_request_duration_seconds_count",
            1,
            'method="POST",route="/api/messages",status="201"',
        )
        with httpx.Client(verify=trusting(ca_file), timeout=10) as http1:
            response = http1.get(f"{service.tls_url}/health/live")
            assert response.http_version == "HTTP/1.1"
            assert response.status_code == 200

        if combination.http == "h1":
            with httpx.Client(http2=True, verify=trusting(ca_file)) as http:
                response = http.get(f"{service.tls_url}/health/live")
            assert response.http_version == "HTTP/1.1", "ALPN offered HTTP/2"
            assert "alt-svc" not in response.headers
            assert service.quic_port == 0
        else:
            check_http2(service, ca_file, combination)
        check_stops_cleanly(service)


def check_http2(service: Service, ca_file: str, combination: Combination) -> None:
    """HTTP/2 over TLS and cleartext, HTTP/3 with h3, realtime over both."""
    with httpx.Client(http2=True, verify=trusting(ca_file), timeout=10) as http2:
        response = http2.get(f"{service.tls_url}/api/messages")
        assert response.http_version == "HTTP/2"
        assert response.status_code == 200
        malformed = http2.post(
            f"{service.tls_url}/api/messages",
            content=b"\xff\xfe",
            headers={"content-type": "application/json"},
        )
        assert malformed.status_code == 400
        assert malformed.json()["status"] == 400

    with httpx.Client(http1=False, http2=True, timeout=10) as prior_knowledge:
        response = prior_knowledge.get(f"{service.base_url}/health/live")
        assert response.http_version == "HTTP/2"
        assert response.status_code == 200

    host, port = service.base_url.removeprefix("http://").split(":")
    status_line, headers, body = h2c_upgrade(host, int(port), "/health/live")
    if combination.server == "granian":
        # Granian ignores the Upgrade (as RFC 9110 lets a server) and answers
        # over HTTP/1.1: cleartext HTTP/2 is by prior knowledge only.
        assert status_line == "HTTP/1.1 200 OK", status_line
    else:
        assert status_line.startswith("HTTP/1.1 101"), status_line
        assert headers[":status"] == "200"
        assert json.loads(body) == {"status": "ok"}

    tls_port = int(service.tls_url.rsplit(":", 1)[1])
    if combination.http == "h3":
        assert service.wait_for_quic() == tls_port, service.log()
        alt_svc = response.headers["alt-svc"]
        assert f'h3=":{service.quic_port}"' in alt_svc, alt_svc
        asyncio.run(http3_requests(service, ca_file))
        assert "request_id=over-h3 status=201" in service.log()
        assert "http_version=3" in service.log()
    else:
        assert service.quic_port == 0
        assert "alt-svc" not in response.headers

    if combination.sse:
        asyncio.run(sse_over_http2(service, ca_file))
        wait_for_log(service, "unsubscribed", 1)  # the client left
        if combination.http == "h3":
            asyncio.run(sse_over_http3(service, ca_file))
            # Hypercorn alone never tells the app an HTTP/3 client left.
            wait_for_log(service, "unsubscribed", 2)

    if combination.websockets and combination.server == "granian":
        # No RFC 8441 on Granian: it does not offer extended CONNECT, so
        # browsers open their WebSockets over HTTP/1.1, on the same port.
        settings = tls_server_settings("127.0.0.1", tls_port, ca_file)
        assert not settings.get(SettingCodes.ENABLE_CONNECT_PROTOCOL), settings
        check_websocket_over_tls(service, ca_file)
    elif combination.websockets:
        with websocket_over_h2("127.0.0.1", tls_port, ca_file, "/ws") as ws:
            sent = asyncio.run(post_message(service.base_url, "to an h2 socket"))
            received = ws.receive_message("to an h2 socket")
            assert received == {"type": "message", "data": sent}
            ws.send_json({"text": "from an h2 socket"})
            assert ws.receive_message("from an h2 socket")["data"]["id"]


def check_websocket_over_tls(service: Service, ca_file: str) -> None:
    """A message posted reaches a WebSocket over HTTP/1.1 on the TLS port."""
    asyncio.run(websocket_over_tls(service, ca_file))


async def websocket_over_tls(service: Service, ca_file: str) -> None:
    ws_url = service.tls_url.replace("https://", "wss://") + "/ws"
    async with connect(ws_url, ssl=trusting(ca_file), open_timeout=10) as ws:
        sent = await post_message(service.base_url, "to a TLS socket")
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if frame["type"] == "message" and frame["data"]["id"] == sent["id"]:
                break
        assert frame["data"] == sent


@pytest.fixture(params=SERVERS, ids="-".join)
def serving_project(
    request: pytest.FixtureRequest, projects: ProjectFactory
) -> Project:
    """The default service with each protocol choice, on each server."""
    http, server = request.param
    return projects.installed(default_answers().but(http=http, server=server))


# Each server's settings file, its variable, a misspelt key and the answer.
SETTINGS_FILES = {
    "hypercorn": (
        "hypercorn.toml",
        "HYPERCORN_CONFIG",
        "keep_alive_timout = 30",
        "invalid Hypercorn configuration",
        "keep_alive_timout: not a Hypercorn setting "
        "(did you mean 'keep_alive_timeout'?)",
    ),
    "granian": (
        "granian.toml",
        "GRANIAN_CONFIG",
        "http1_keep_alve = false",
        "invalid Granian configuration",
        "http1_keep_alve: not a Granian setting (did you mean 'http1_keep_alive'?)",
    ),
}


def settings_file(project: Project, tmp_path: Path, extra: str) -> dict[str, str]:
    """The project's own server settings file with *extra* appended, as the
    setting that points the service at it."""
    name, variable, *_ = SETTINGS_FILES[project.combination.server]
    path = tmp_path / name
    path.write_text((project.path / name).read_text() + extra + "\n")
    return {variable: str(path)}


def test_a_missing_certificate_file_stops_start_up(
    serving_project: Project, tmp_path: Path
) -> None:
    missing = str(tmp_path / "nowhere" / "server.pem")
    result = serving_project.start_until_exit(CERT_FILE=missing, KEY_FILE=missing)
    assert result.returncode == 2, result.stderr
    assert f"CERT_FILE: no such file: {missing!r}" in result.stderr
    assert f"KEY_FILE: no such file: {missing!r}" in result.stderr
    assert "Traceback" not in result.stderr

    result = serving_project.start_until_exit(CERT_FILE=missing)
    assert result.returncode == 2
    assert "KEY_FILE: required with CERT_FILE" in result.stderr


def test_an_unknown_server_setting_stops_start_up(
    serving_project: Project, tmp_path: Path
) -> None:
    _, _, misspelt, heading, message = SETTINGS_FILES[
        serving_project.combination.server
    ]
    env = settings_file(serving_project, tmp_path, misspelt)
    result = serving_project.start_until_exit(**env)
    assert result.returncode == 2, result.stderr
    assert heading in result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_several_workers_stop_start_up(
    serving_project: Project, tmp_path: Path
) -> None:
    env = settings_file(serving_project, tmp_path, "workers = 4")
    result = serving_project.start_until_exit(**env)
    assert result.returncode == 2, result.stderr
    assert "workers: " in result.stderr
    assert "run more processes or containers behind a load balancer" in result.stderr
    if serving_project.combination.http == "h3":
        assert "QUIC (HTTP/3) cannot share its UDP socket" in result.stderr


def test_without_a_certificate_it_says_which_protocols_are_off(
    serving_project: Project,
) -> None:
    with serving_project.serve() as service:
        assert service.tls_url == ""
        assert service.quic_port == 0
        check_stops_cleanly(service)
    expected = {
        "h1": "HTTPS is off; serving HTTP/1.1 only",
        "h2": "HTTP/2 over TLS is off; serving HTTP/1.1 and cleartext HTTP/2 (h2c)",
        "h3": "HTTP/2 over TLS and HTTP/3 are off (QUIC always needs TLS)",
    }[serving_project.combination.http]
    assert expected in service.log()


def test_the_readme_gives_the_certificate_command(serving_project: Project) -> None:
    readme = (serving_project.path / "README.md").read_text()
    command = "mkdir -p instance/certs && uv run " + " ".join(CERTIFICATE_COMMAND)
    assert command in readme
    assert command.removeprefix("mkdir -p instance/certs && uv run ") in (
        (serving_project.path / ".env.example").read_text()
    )
    # The command works in the service's own environment (the boots share
    # one certificate per worker: ``ProjectFactory.certificate``).
    settings = serving_project.make_certificate()
    for name in ("CERT_FILE", "KEY_FILE", "CA_BUNDLE"):
        assert Path(settings[name]).read_text().startswith("-----BEGIN "), name


def test_settings_only_answers_boot_on_a_covering_set() -> None:
    """On the default Python every combination boots but those with a
    SETTINGS_ONLY answer, which take every single answer for each server."""
    every = [p.values[0] for p in matrix_params(vary=frozenset({"http"}))]
    chosen = [p.values[0] for p in EVERY_SERVING]
    on_default = [c for c in every if c.python_version == PYTHON]
    assert [c for c in chosen if c in on_default and not settings_only(c)] == [
        c for c in on_default if not settings_only(c)
    ]
    for server in {c.get("server") for c in on_default if settings_only(c)}:
        there = [
            c for c in on_default if settings_only(c) and c.get("server") == server
        ]
        covered = [c for c in chosen if c in there]
        assert {a for c in covered for a in c.items()} == {
            a for c in there for a in c.items()
        }
        assert len(covered) < len(there) // 4, server
