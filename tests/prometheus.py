"""A real Prometheus for the tests: Debian's ``prometheus``, on loopback,
with a data directory of its own and a scrape interval of 0.5 s.

It scrapes a fixed pool of ports (``static_configs``), whether or not a
service listens there yet, so a service booted on one of them is scraped
within one interval. (Targets that come and go through a watched file wait
for Prometheus's 5 s throttle on target discovery, on every boot.) A test
leases a port with :meth:`Prometheus.scraping`, gives it to its service as
``METRICS_PORT`` and asks the query API through the :class:`Target`, which
counts only samples scraped after the lease: never a previous service's on
the same port.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from .generated import free_port

SCRAPE_INTERVAL = "500ms"
# Ports per Prometheus; leased in turn, so a port is reused only after every
# other one was: a stopped service's last samples are long stale by then.
POOL_SIZE = 16
# Below Linux's ephemeral range (32768-60999), where free_port() and the
# kernel pick ports, so nothing else is handed one of these; each xdist
# worker's Prometheus takes its block from a range of its own.
POOL_RANGE_START = 20000
POOL_RANGE_PER_WORKER = 512


def _all_free(ports: range) -> bool:
    for port in ports:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_pool() -> range:
    """A block of POOL_SIZE consecutive free ports in this worker's range."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    start = POOL_RANGE_START + worker * POOL_RANGE_PER_WORKER
    for base in range(start, start + POOL_RANGE_PER_WORKER, POOL_SIZE):
        if _all_free(pool := range(base, base + POOL_SIZE)):
            return pool
    raise RuntimeError(f"no {POOL_SIZE} free consecutive ports from {start}")


@dataclass(frozen=True)
class Target:
    """One leased port: the service on it is scraped as ``instance``."""

    prometheus: Prometheus
    port: int
    leased_at: float  # Unix time: samples scraped before it are not ours

    @property
    def selector(self) -> str:
        return f'instance="127.0.0.1:{self.port}"'

    def query(self, metric: str, labels: str = "") -> float | None:
        """*metric* with *labels* (``a="b",...``) as scraped since the lease."""
        series = f"{metric}{{{', '.join(filter(None, [self.selector, labels]))}}}"
        return self.prometheus.query(
            f"{series} and (timestamp({series}) > {self.leased_at})"
        )

    def wait_for(
        self, metric: str, expected: float, labels: str = "", timeout: float = 20
    ) -> None:
        """Wait until Prometheus has scraped *metric* at *expected*."""
        deadline = time.monotonic() + timeout
        while (value := self.query(metric, labels)) != expected:
            assert time.monotonic() < deadline, (
                f"{metric}{{{labels}}} on port {self.port} = {value}, not {expected}"
            )
            time.sleep(0.1)


class Prometheus:
    """A running Prometheus and the pool of ports it scrapes."""

    def __init__(self, url: str, pool: range) -> None:
        self.url = url
        self._turns = itertools.cycle(pool)
        self._leased: set[int] = set()

    @contextlib.contextmanager
    def scraping(self) -> Iterator[Target]:
        """Lease a scraped port for the ``with`` block."""
        port = next(port for port in self._turns if port not in self._leased)
        self._leased.add(port)
        try:
            yield Target(self, port, time.time())
        finally:
            self._leased.discard(port)

    def query(self, expression: str) -> float | None:
        """The value of *expression* now, or None when it matches no series."""
        response = httpx.get(
            f"{self.url}/api/v1/query", params={"query": expression}, timeout=10
        )
        response.raise_for_status()
        result = response.json()["data"]["result"]
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None


@contextlib.contextmanager
def running_prometheus(directory: Path) -> Iterator[Prometheus]:
    """Run Prometheus with its files in *directory*; stop it afterwards.

    Raises FileNotFoundError when Debian's ``prometheus`` is not installed.
    """
    binary = shutil.which("prometheus")
    if binary is None:
        raise FileNotFoundError("Debian's prometheus package is not installed")
    pool = free_pool()
    targets = ", ".join(f"'127.0.0.1:{port}'" for port in pool)
    config = directory / "prometheus.yml"
    config.write_text(
        f"global: {{scrape_interval: {SCRAPE_INTERVAL}, "
        f"evaluation_interval: {SCRAPE_INTERVAL}}}\n"
        "scrape_configs:\n"
        "  - job_name: service\n"
        f"    static_configs: [{{targets: [{targets}]}}]\n"
    )
    url = f"http://127.0.0.1:{free_port()}"
    log_path = directory / "prometheus.log"
    with log_path.open("wb") as log:
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
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "Prometheus not ready within 30 s"
            time.sleep(0.1)
        yield Prometheus(url, pool)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
