"""bench/: its arithmetic, and a smoke run that keeps it working.

The benchmark itself runs for minutes and its numbers would only measure the
CI machine, so the suite does not judge them. It checks the parts that turn
tool output into the published table, on real tool output, and runs
``bench/run.py --smoke``: every server and every scenario once, for about a
second each, which fails if a server does not start, answers differently from
the service, fails a request or loses a message.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .services import missing, service_available

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

from load import parse_h2load, parse_wrk  # noqa: E402
from profile_service import package_of  # noqa: E402
from report import add_ratios, summarize, table  # noqa: E402
from run import SCENARIOS, smoke_problems  # noqa: E402
from servers import Server  # noqa: E402

WRK = """\
Running 4s test @ http://127.0.0.1:8101/bench/io
  1 threads and 100 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    94.46ms   12.04ms 161.54ms   70.00%
    Req/Sec     1.08k    95.20     1.20k    75.00%
  Latency Distribution
     50%   94.46ms
     75%  101.87ms
     90%  110.70ms
     99%  161.54ms
  4305 requests in 4.00s, 765.18KB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:   1076.25
Transfer/sec:    191.30KB
"""

H2LOAD = """\
finished in 3.00s, 1520.33 req/s, 230.01KB/s
requests: 4561 total, 4561 started, 4561 done, 4551 succeeded, 10 failed, 0 errored, 0 timeout
status codes: 4550 2xx, 0 3xx, 1 4xx, 0 5xx
                     min         max         mean         sd        +/- sd
time for request:     2.86ms     14.03ms      6.14ms      3.17ms    80.00%
"""  # noqa: E501


def test_wrk_report_counts_every_failure() -> None:
    result = parse_wrk(WRK)
    assert result.requests == 4305
    assert result.seconds == pytest.approx(4.0)
    assert result.rate == pytest.approx(1076.25)
    assert result.failures == 2 + 3 + 7
    assert (result.p50_ms, result.p99_ms) == (
        pytest.approx(94.46),
        pytest.approx(161.54),
    )


def test_wrk_units_are_converted_to_milliseconds() -> None:
    text = WRK.replace("50%   94.46ms", "50%  812.00us").replace(
        "99%  161.54ms", "99%    1.20s"
    )
    result = parse_wrk(text.replace("in 4.00s", "in 2.50m"))
    assert result.p50_ms == pytest.approx(0.812)
    assert result.p99_ms == pytest.approx(1200)
    assert result.seconds == pytest.approx(150)


def test_wrk_without_a_result_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="wrk printed no result"):
        parse_wrk("unable to connect to 127.0.0.1:8101 Connection refused\n")


def test_h2load_counts_only_good_answers() -> None:
    result = parse_h2load(H2LOAD)
    assert result.requests == 4551 - 1  # the 4xx is not a good answer
    assert result.failures == 10 + 1
    assert result.rate == pytest.approx(4550 / 3.0)
    assert result.p50_ms is None  # h2load reports no percentiles


def test_summary_takes_medians_worst_memory_and_all_failures() -> None:
    samples = [
        {"rate": 100.0, "peak_rss": 10, "failures": 0, "p50_ms": 5.0},
        {"rate": 300.0, "peak_rss": 30, "failures": 2, "p50_ms": 7.0},
        {"rate": 200.0, "peak_rss": 20, "failures": 1, "p50_ms": 9.0},
    ]
    summary = summarize(samples, "rate")
    assert (summary["median"], summary["min"], summary["max"]) == (200.0, 100.0, 300.0)
    assert summary["peak_rss"] == 30
    assert summary["failures"] == 3
    assert summary["p50_ms"] == 7.0


def test_ratios_are_the_service_over_each_server() -> None:
    rows = {
        "quart-service": {
            "median": 1500.0,
            "min": 1400.0,
            "max": 1600.0,
            "peak_rss": 60,
        },
        "fastapi-uvicorn": {
            "median": 3000.0,
            "min": 2900.0,
            "max": 3100.0,
            "peak_rss": 40,
        },
    }
    add_ratios(rows)
    assert rows["fastapi-uvicorn"]["service_ratio"] == pytest.approx(0.5)
    assert rows["fastapi-uvicorn"]["memory_ratio"] == pytest.approx(1.5)
    assert rows["quart-service"]["service_ratio"] == pytest.approx(1.0)
    scenario = {
        "title": "t",
        "how": "h",
        "unit": "req/s",
        "lower_is_better": False,
        "servers": rows,
    }
    assert "| fastapi-uvicorn | 3,000 | " in table([scenario])


@pytest.mark.parametrize(
    ("frame", "package"),
    [
        ("Quart.asgi_app (quart/app.py:1763)", "quart"),
        ("finish_response (my_service/hooks.py:48)", "my_service"),
        ("run (my_service/server.py:205)", "(event loop)"),
        ("StreamWriter.write (asyncio/streams.py:340)", "stdlib asyncio"),
        ("validate (h11/_util.py:84)", "h11"),
        ("<module> (<frozen runpy>:88)", "(event loop)"),
        ("", "(native or idle)"),
    ],
)
def test_profile_frames_are_counted_by_package(frame: str, package: str) -> None:
    assert package_of(frame, "my_service") == package


def test_a_smoke_run_fails_on_any_failure_loss_or_missing_row() -> None:
    servers = [
        Server("quart-service", [], BENCH, 1, "db", realtime=True),
        Server("flask-gunicorn-sync", [], BENCH, 2, "db", keep_alive=False),
    ]
    good = {"median": 10.0, "failures": 0}
    results = [
        {"name": "json", "servers": {"quart-service": good}},
        {"name": "http2", "servers": {"quart-service": {"median": 0.0}}},
        {"name": "ws-fanout", "servers": {"quart-service": {"median": 5, "lost": 3}}},
    ]
    problems = smoke_problems(results, servers, ["json", "http2", "ws-fanout", "soak"])
    assert problems == [
        "json: no row for flask-gunicorn-sync",
        "http2: quart-service measured nothing",  # sync workers: no keep-alive
        "ws-fanout: quart-service failed or lost 3",  # Flask has no realtime
        "soak: did not run",
    ]


@pytest.mark.slow
def test_bench_smoke_run_measures_every_server_and_scenario(
    tmp_path: Path, in_ci: bool
) -> None:
    """``bench/run.py --smoke`` from this checkout: every server starts,
    passes the parity check and gives a row without failures in every
    scenario (the figures are not judged)."""
    for tool, package in (("wrk", "wrk"), ("h2load", "nghttp2-client")):
        if shutil.which(tool) is None:
            missing(f"the bench needs {tool} (Debian package {package})", in_ci)
    service_available("postgresql://127.0.0.1:5432", "PostgreSQL", in_ci)
    done = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--smoke", "--results", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )
    output = done.stdout[-6000:] + done.stderr[-6000:]
    assert done.returncode == 0, output
    report = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    ran = {scenario["name"]: scenario["servers"] for scenario in report["scenarios"]}
    assert set(ran) == set(SCENARIOS), output
    assert set(ran["json"]) == set(report["servers"]), output
    assert set(ran["soak"]) == {
        name for name in report["servers"] if name.startswith(("quart", "fastapi"))
    }
