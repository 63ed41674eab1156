"""A real Prometheus scrapes the generated service.

Debian's ``prometheus`` runs on loopback with a data directory of its own and
a scrape interval of 1 s, pointed at a booted service's ``METRICS_PORT``.
After traffic (and with a realtime client connected), Prometheus's query API
must return the request counter, the messages published, the open
connection by transport and the database pool: what an operator's dashboard
and alerts would read. Every answer of every question is covered once
(``cover=1``); every combination's exposition is checked on each boot
(``checks.check_metrics``).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from .generated import Service, free_port
from .matrix import Combination
from .projects import ProjectFactory, matrix_params
from .services import Databases, missing

pytestmark = pytest.mark.slow

SCRAPE_INTERVAL = "1s"


@contextlib.contextmanager
def prometheus(target: str, directory: Path, in_ci: bool) -> Iterator[str]:
    """Run Prometheus scraping *target* (host:port); yield its base URL."""
    binary = shutil.which("prometheus")
    if binary is None:
        missing("Debian's prometheus package is not installed", in_ci)
    assert binary is not None
    config = directory / "prometheus.yml"
    config.write_text(
        f"global: {{scrape_interval: {SCRAPE_INTERVAL}, "
        f"evaluation_interval: {SCRAPE_INTERVAL}}}\n"
        "scrape_configs:\n"
        "  - job_name: service\n"
        f"    static_configs: [{{targets: ['{target}']}}]\n"
    )
    url = f"http://127.0.0.1:{free_port()}"
    log = (directory / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address={url.removeprefix('http://')}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            assert process.poll() is None, (directory / "prometheus.log").read_text()
            assert time.monotonic() < deadline, "Prometheus not ready within 30 s"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def query(prometheus_url: str, expression: str) -> float | None:
    """The value of *expression* now, or None when it matches no series."""
    response = httpx.get(
        f"{prometheus_url}/api/v1/query", params={"query": expression}, timeout=10
    )
    response.raise_for_status()
    result = response.json()["data"]["result"]
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else None


def wait_for(
    prometheus_url: str, expression: str, expected: float, timeout: float = 20
) -> None:
    """Wait until Prometheus has scraped *expression* at *expected*."""
    deadline = time.monotonic() + timeout
    while (value := query(prometheus_url, expression)) != expected:
        assert time.monotonic() < deadline, f"{expression} = {value}, not {expected}"
        time.sleep(0.25)


@contextlib.contextmanager
def realtime_client(service: Service, combination: Combination) -> Iterator[str]:
    """Hold one realtime connection open; yield its transport label."""
    if combination.websockets:
        ws_url = service.base_url.replace("http://", "ws://") + "/ws"
        with connect(ws_url, open_timeout=10):
            yield "websocket"
    else:
        with (
            httpx.Client(base_url=service.base_url, timeout=10) as http,
            http.stream("GET", "/events") as stream,
        ):
            assert stream.status_code == 200
            yield "sse"


@pytest.mark.parametrize("combination", matrix_params(cover=1))
def test_prometheus_scrapes_the_service(
    combination: Combination,
    projects: ProjectFactory,
    databases: Databases,
    tmp_path: Path,
    in_ci: bool,
) -> None:
    project = projects.installed(combination)
    with project.serve(databases.env(combination)) as service:
        target = service.metrics_url.removeprefix("http://").removesuffix("/metrics")
        with service.client() as http:
            for text in ("one", "two", "three"):
                posted = http.post("/api/messages", json={"text": text})
                assert posted.status_code == 201
        with prometheus(target, tmp_path, in_ci) as url:
            wait_for(url, 'up{job="service"}', 1)
            requests = (
                'http_request_duration_seconds_count{method="POST",'
                'route="/api/messages",status="201"}'
            )
            wait_for(url, requests, 3)
            wait_for(url, "messages_published_total", 3)
            assert query(url, "service_build_info") == 1
            if combination.database != "none":
                size = 'db_pool_connections{state="size"}'
                wait_for(url, size, 10)  # DB_POOL_SIZE's default
            if combination.realtime:
                with realtime_client(service, combination) as transport:
                    connections = f'realtime_connections{{transport="{transport}"}}'
                    wait_for(url, connections, 1)
                wait_for(url, connections, 0)
