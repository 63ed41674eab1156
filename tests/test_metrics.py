"""A real Prometheus scrapes the generated service (``prometheus.py``).

Every boot of every combination is scraped by the worker's Prometheus
(``test_protocols.py``: the request counter must arrive). Here, one
combination per answer (``cover=1``) is asked for more, after traffic and
with a realtime client connected: the request counter, the messages
published, the build info, the database pool and the open connection by
transport, 1 while the client is connected and 0 after: what an operator's
dashboard and alerts would read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx
import pytest
from websockets.sync.client import connect

from .generated import Service
from .matrix import Combination
from .projects import ProjectFactory, matrix_params
from .prometheus import Prometheus
from .services import Databases

pytestmark = pytest.mark.slow


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
    prometheus: Prometheus,
) -> None:
    project = projects.installed(combination)
    with (
        prometheus.scraping() as target,
        project.serve(
            {**databases.env(combination), "METRICS_PORT": str(target.port)}
        ) as service,
    ):
        with service.client() as http:
            for text in ("one", "two", "three"):
                posted = http.post("/api/messages", json={"text": text})
                assert posted.status_code == 201
        target.wait_for("up", 1)
        target.wait_for(
            "http_request_duration_seconds_count",
            3,
            'method="POST",route="/api/messages",status="201"',
        )
        target.wait_for("messages_published_total", 3)
        assert target.query("service_build_info") == 1
        if combination.database != "none":
            target.wait_for("db_pool_connections", 10, 'state="size"')  # the default
        if combination.realtime:
            with realtime_client(service, combination) as transport:
                connections = f'transport="{transport}"'
                target.wait_for("realtime_connections", 1, connections)
            target.wait_for("realtime_connections", 0, connections)
