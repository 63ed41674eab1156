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
    label = f"metrics-{combination.id}"
    with project.serve(databases.env(combination)) as service:
        with service.client() as http:
            for text in ("one", "two", "three"):
                posted = http.post("/api/messages", json={"text": text})
                assert posted.status_code == 201
        with prometheus.scraping(label, service.metrics_target) as selector:
            prometheus.wait_for(f"up{{{selector}}}", 1)
            prometheus.wait_for(
                "http_request_duration_seconds_count"
                f'{{{selector},method="POST",route="/api/messages",status="201"}}',
                3,
            )
            prometheus.wait_for(f"messages_published_total{{{selector}}}", 3)
            assert prometheus.query(f"service_build_info{{{selector}}}") == 1
            if combination.database != "none":
                size = f'db_pool_connections{{{selector},state="size"}}'
                prometheus.wait_for(size, 10)  # DB_POOL_SIZE's default
            if combination.realtime:
                with realtime_client(service, combination) as transport:
                    connections = (
                        f'realtime_connections{{{selector},transport="{transport}"}}'
                    )
                    prometheus.wait_for(connections, 1)
                prometheus.wait_for(connections, 0)
