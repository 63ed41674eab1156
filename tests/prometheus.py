"""A real Prometheus for the tests: Debian's ``prometheus``, on loopback,
with a data directory of its own and a scrape interval of 0.5 s.

Its targets come from a file (``file_sd_configs``) that Prometheus watches,
so one server per xdist worker scrapes every service the worker boots: a
test adds its service with :meth:`Prometheus.scrape` under a label of its
own (:meth:`Prometheus.scraping`) and asks the query API
(:meth:`Prometheus.wait_for`).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from .generated import free_port

SCRAPE_INTERVAL = "500ms"


class Prometheus:
    """A running Prometheus and the targets it scrapes."""

    def __init__(self, url: str, targets_file: Path) -> None:
        self.url = url
        self.targets_file = targets_file
        self.targets: dict[str, str] = {}  # label -> host:port

    @contextlib.contextmanager
    def scraping(self, label: str, target: str) -> Iterator[str]:
        """Scrape *target* (host:port) for the ``with`` block, its series
        labelled ``target="<label>"``; yield that label selector."""
        self.targets[label] = target
        self._write_targets()
        try:
            yield f'target="{label}"'
        finally:
            del self.targets[label]
            self._write_targets()

    def _write_targets(self) -> None:
        groups = [
            {"targets": [address], "labels": {"target": name}}
            for name, address in self.targets.items()
        ]
        # Prometheus watches the file: write it whole, then swap it in.
        partial = self.targets_file.with_suffix(".partial")
        partial.write_text(json.dumps(groups))
        partial.replace(self.targets_file)

    def query(self, expression: str) -> float | None:
        """The value of *expression* now, or None when it matches no series."""
        response = httpx.get(
            f"{self.url}/api/v1/query", params={"query": expression}, timeout=10
        )
        response.raise_for_status()
        result = response.json()["data"]["result"]
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, expression: str, expected: float, timeout: float = 20) -> None:
        """Wait until Prometheus has scraped *expression* at *expected*."""
        deadline = time.monotonic() + timeout
        while (value := self.query(expression)) != expected:
            assert time.monotonic() < deadline, (
                f"{expression} = {value}, not {expected}"
            )
            time.sleep(0.1)


@contextlib.contextmanager
def running_prometheus(directory: Path) -> Iterator[Prometheus]:
    """Run Prometheus with its files in *directory*; stop it afterwards.

    Raises FileNotFoundError when Debian's ``prometheus`` is not installed.
    """
    binary = shutil.which("prometheus")
    if binary is None:
        raise FileNotFoundError("Debian's prometheus package is not installed")
    targets_file = directory / "targets.json"
    targets_file.write_text("[]")
    config = directory / "prometheus.yml"
    config.write_text(
        f"global: {{scrape_interval: {SCRAPE_INTERVAL}, "
        f"evaluation_interval: {SCRAPE_INTERVAL}}}\n"
        "scrape_configs:\n"
        "  - job_name: service\n"
        f"    file_sd_configs: [{{files: ['{targets_file}'], "
        f"refresh_interval: {SCRAPE_INTERVAL}}}]\n"
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
        yield Prometheus(url, targets_file)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
