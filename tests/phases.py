"""Where a run's time goes: worker-seconds per phase, printed at the end.

Each test's setup, call and teardown count toward its phase; renderings and
installs are made by fixtures, so they count toward the first test that
needs them (``render + leftovers`` and ``install + mypy``). With xdist the
times come from every worker, so they add up to about twice the wall time
on two workers.
"""

from __future__ import annotations

import collections

import pytest

# Test module (and, for the per-combination checks, test name) to phase.
PHASES = {
    "test_combinations.py::test_renders": "render + leftovers (every combination)",
    "test_combinations.py::test_lints": "lint (every combination)",
    "test_combinations.py::test_type_checks": "install + mypy (every distinct code)",
    "test_combinations.py::test_its_own_tests": "own tests (every distinct code)",
    "test_protocols.py": "boots over every protocol (every combination)",
    "test_docker.py": "Docker builds and boots",
    "test_update.py": "copier update",
    "test_delivery.py": "deep: delivery contract",
    "test_realtime.py": "deep: realtime",
    "test_database.py": "deep: database life cycle",
    "test_hostile.py": "deep: hostile clients",
    "test_fuzz.py": "deep: fuzzing",
    "test_browser.py": "deep: browser",
    "test_metrics.py": "deep: metrics scraped by Prometheus",
    "test_kubernetes.py": "Kubernetes manifests (every Docker combination)",
    "test_tracing.py": "deep: spans exported to an OTLP receiver",
    "test_bench.py": "bench smoke",
}


def phase_of(nodeid: str) -> str:
    """The phase a test belongs to (``other`` for the harness's own tests)."""
    path = nodeid.split("[")[0].rpartition("/")[2]
    for prefix, phase in PHASES.items():
        if path.startswith(prefix):
            return phase
    return "other (questions, matrix, harness, startup)"


class PhaseTimes:
    """A pytest plugin that sums test durations by phase."""

    def __init__(self) -> None:
        self.seconds: collections.Counter[str] = collections.Counter()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[phase_of(report.nodeid)] += report.duration

    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter
    ) -> None:
        if not self.seconds:
            return
        terminalreporter.section("time per phase (worker-seconds)")
        for phase, seconds in self.seconds.most_common():
            terminalreporter.write_line(f"{seconds:8.0f} s  {phase}")
        total = sum(self.seconds.values())
        terminalreporter.write_line(f"{total:8.0f} s  in all")
