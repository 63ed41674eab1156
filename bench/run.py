"""Benchmark the generated service against FastAPI and Flask: ``uv run bench/run.py``.

Renders the template (working tree, chosen answers), installs the service and
the peers (bench/peers), starts each as users run it, on its own port and its
own PostgreSQL database, pinned to core 0 with the load on the other cores,
then runs every scenario for several rounds, interleaving the servers (the
order rotates each round). Prints a Markdown table, writes JSON to
bench/results/, and with ``--readme`` puts the table in bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.server
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import uvloop
from fanout import fanout
from idle import hold_idle
from load import MESSAGES_SCRIPT, LoadResult, h2load, wrk
from report import GRANIAN_SERVICE, SERVICE, add_ratios, summarize, table
from servers import (
    HOST,
    OTLP_SINK_PORT,
    REPO,
    Server,
    Usage,
    compared_service,
    create_databases,
    drop_databases,
    install,
    install_all,
    make_servers,
    render_service,
    rss,
    seed,
    stop_process,
    wait_ready,
)

T = TypeVar("T")
TRACED = "quart-service-traced"  # needs the OTLP sink
RESULTS = REPO / "bench" / "results"
README = REPO / "bench" / "README.md"
DEFAULT_ANSWERS = {
    "project_name": "Bench Service",
    "database": "postgresql",
    "websockets": True,
    "sse": True,
    "broker": "memory",
    "http": "h2",
    "docker": False,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per scenario (3)")
    parser.add_argument(
        "--seconds", type=float, default=3, help="seconds per load run (3)"
    )
    parser.add_argument(
        "--subscribers", type=int, default=1000, help="fan-out subscribers (1000)"
    )
    parser.add_argument(
        "--messages", type=int, default=40, help="fan-out messages (40)"
    )
    parser.add_argument(
        "--rate", type=float, default=40, help="fan-out messages/s (40)"
    )
    parser.add_argument(
        "--soak-seconds",
        type=float,
        default=60,
        help="soak: seconds of messages at 20/s to 1,000 SSE + 1,000 WS (60)",
    )
    parser.add_argument(
        "--soak-subscribers",
        type=int,
        default=2000,
        help="soak: subscribers, half SSE and half WebSocket (2000)",
    )
    parser.add_argument(
        "--pool-size", type=int, default=10, help="database pool size (10)"
    )
    parser.add_argument(
        "--python", default="3.14", help="Python for the servers (3.14)"
    )
    parser.add_argument(
        "--answer",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a template answer (repeatable), e.g. --answer http=h3",
    )
    parser.add_argument(
        "--compare",
        metavar="REF",
        help="also measure the service rendered from the template at REF (a tag)",
    )
    parser.add_argument("--only", help="comma-separated scenarios to run")
    parser.add_argument("--servers", help="comma-separated servers to run")
    parser.add_argument("--readme", action="store_true", help="update bench/README.md")
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS,
        help="where the rendered service, logs and JSON go (bench/results)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=(
            "check that the bench works, measure nothing: every server and "
            "scenario once, about a second each, a few connections and "
            "subscribers; exit 1 if a server failed a request or lost a message"
        ),
    )
    args = parser.parse_args(argv)
    args.max_connections = None  # no cap
    args.settle = 1.0  # seconds for a server to close a fan-out's connections
    if args.smoke:
        args.rounds, args.seconds, args.max_connections, args.settle = 1, 1, 10, 0.2
        args.subscribers = args.soak_subscribers = 20
        args.messages, args.soak_seconds = 5, 1
    return args


def answer_value(raw: str) -> str | bool:
    return {"true": True, "false": False}.get(raw.lower(), raw)


Measure = Callable[[Server, argparse.Namespace, Path], dict[str, Any]]


@dataclass(frozen=True)
class Scenario:
    """One measured workload: how each server is loaded and what is reported."""

    title: str
    how: str  # printed under the title in bench/README.md
    unit: str
    measure: Measure  # one round on one server: {"rate": ..., and the rest}
    warm_up: Callable[[Server], Any] | None = None  # not in a smoke run
    # Only servers with realtime endpoints (not every peer has them).
    realtime: bool = False
    # The rendered service's answers the scenario needs ("sse", "websockets").
    needs_answers: frozenset[str] = frozenset()
    needs_keep_alive: bool = False
    needs_api: bool = False  # the messages API, which the bare apps lack
    fresh_servers: bool = False  # restart every server first
    lower_is_better: bool = False


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run the bench's own clients on uvloop, so they are not the bottleneck."""
    return uvloop.run(coroutine)


def cpu_per_1000(usage: Usage, result: LoadResult) -> float | None:
    """CPU seconds the server spent per 1,000 answered requests."""
    return usage.cpu / result.requests * 1000 if result.requests else None


def capped(connections: int, args: argparse.Namespace) -> int:
    """*connections*, or fewer in a smoke run (``--smoke``)."""
    return min(connections, args.max_connections or connections)


def load_scenario(
    path: str, connections: int, script: Path | None = None, min_seconds: float = 0
) -> Measure:
    """wrk on *path* from *connections* connections (*script* makes the requests),
    for --seconds but at least *min_seconds*."""

    def measure(server: Server, args: argparse.Namespace, _: Path) -> dict[str, Any]:
        assert server.process is not None
        seconds = max(args.seconds, min_seconds)
        with Usage(server.process.pid) as usage:
            result = wrk(server.url + path, capped(connections, args), seconds, script)
        return {
            "rate": result.rate,
            "p50_ms": result.p50_ms,
            "p99_ms": result.p99_ms,
            "failures": result.failures,
            "peak_rss": usage.peak_rss,
            "cpu_per_1000": cpu_per_1000(usage, result),
        }

    return measure


def http2_scenario(server: Server, args: argparse.Namespace, _: Path) -> dict[str, Any]:
    assert server.process is not None
    with Usage(server.process.pid) as usage:
        result = h2load(
            server.url + "/health/live",
            capped(50, args),
            10,
            args.seconds,
            http2=server.h2c,
        )
    return {
        "rate": result.rate,
        "protocol": "HTTP/2 (h2c), 10 streams per connection"
        if server.h2c
        else "HTTP/1.1",
        "failures": result.failures,
        "peak_rss": usage.peak_rss,
        "cpu_per_1000": cpu_per_1000(usage, result),
    }


def fanout_scenario(kind: str) -> Measure:
    def measure(server: Server, args: argparse.Namespace, _: Path) -> dict[str, Any]:
        return measure_fanout(
            server,
            kind,
            args.subscribers,
            args.messages,
            args.rate,
            timeout=30,
            settle=args.settle,
        )

    return measure


SOAK_RATE = 20.0  # messages/s


def soak_scenario(server: Server, args: argparse.Namespace, _: Path) -> dict[str, Any]:
    """Half SSE, half WebSocket subscribers; messages at 20/s for a minute."""
    result = measure_fanout(
        server,
        "both",
        args.soak_subscribers,
        round(args.soak_seconds * SOAK_RATE),
        SOAK_RATE,
        timeout=60,
        duration=args.soak_seconds,
        settle=args.settle,
    )
    return {**result, "rate": result["posted_per_s"]}


def measure_fanout(
    server: Server,
    kind: str,
    subscribers: int,
    messages: int,
    rate: float,
    timeout: float,
    duration: float | None = None,
    settle: float = 1.0,
) -> dict[str, Any]:
    assert server.process is not None
    pid = server.process.pid
    with Usage(pid) as usage:
        result = run_async(
            fanout(
                server.port,
                kind,
                subscribers,
                messages,
                rate,
                lambda: rss(pid),
                timeout=timeout,
                duration=duration,
            )
        )
    time.sleep(settle)  # let the server close the connections before the next run
    return {
        "rate": result.deliveries_per_s,
        "posted_per_s": result.posted_per_s,
        "p50_ms": result.p50_ms,
        "p99_ms": result.p99_ms,
        "lost": result.lost,
        "delivered": result.delivered,
        "peak_rss": usage.peak_rss,
        "bytes_per_subscriber": result.bytes_per_subscriber,
    }


IDLE_CONNECTIONS = 10_000
SSE_CROWD = 10_000


def idle_scenario(server: Server, args: argparse.Namespace, _: Path) -> dict[str, Any]:
    """10,000 answered keep-alive connections held open at once."""
    assert server.process is not None
    pid = server.process.pid
    with Usage(pid) as usage:
        result = run_async(
            hold_idle(server.port, capped(IDLE_CONNECTIONS, args), lambda: rss(pid))
        )
    time.sleep(args.settle)  # let the server close them before the next run
    return {
        "rate": result.open,
        "failures": result.failed,
        "peak_rss": usage.peak_rss,
        "bytes_per_connection": result.bytes_per_connection,
    }


def sse_crowd_scenario(
    server: Server, args: argparse.Namespace, _: Path
) -> dict[str, Any]:
    """10,000 SSE subscribers, 5 messages at 5/s: memory per open stream.

    A server that cannot hold them all gets a row of zero deliveries, every
    message lost, instead of ending the run."""
    subscribers = capped(SSE_CROWD, args)
    settle = args.settle if args.smoke else max(args.settle, 3.0)  # 10,000 closes
    try:
        return measure_fanout(
            server,
            "sse",
            subscribers,
            5,
            5.0,
            timeout=120,
            settle=settle,
        )
    except RuntimeError as error:  # subscribers not connected in time
        print(f"  sse-10k     {server.name}: {error}", file=sys.stderr)
        time.sleep(settle)
        return {"rate": 0.0, "lost": subscribers * 5, "delivered": 0}


def fanout_warm_up(server: Server, kind: str) -> None:
    """A small fan-out, so the first measured round is not also the first ever."""
    run_async(fanout(server.port, kind, 100, 5, 40, memory=lambda: 0))


def cold_start(server: Server, args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    port = server.port + 100
    started = time.perf_counter()
    process = server.spawn(port, logs / f"{server.name}-cold.log")
    try:
        probe = Server(
            server.name, [], server.cwd, port, server.database, process=process
        )
        wait_ready(probe, port, timeout=60)
        seconds = time.perf_counter() - started
        memory = rss(process.pid)
    finally:
        stop_process(process)
    return {"rate": seconds, "peak_rss": memory}


FANOUT_HOW = (
    "The bench's asyncio client opens the subscribers ({kind}; 1,000 by default) "
    "and, once a warm-up message reached every one, posts the messages (40 at 40/s "
    "by default); latency runs from sending the POST to the subscriber reading it."
)


def fanout_to(answer: str, subscribers: str, endpoint: str) -> Scenario:
    """The fan-out to one realtime endpoint (the service's *answer*)."""
    kind = "ws" if answer == "websockets" else answer
    return Scenario(
        title=f"Realtime fan-out: {subscribers} subscribers",
        how=FANOUT_HOW.format(kind=endpoint),
        unit="deliveries/s",
        realtime=True,
        needs_answers=frozenset({answer}),
        measure=fanout_scenario(kind),
        warm_up=lambda server: fanout_warm_up(server, kind),
    )


SCENARIOS: dict[str, Scenario] = {
    # Fan-out first, on fresh processes: their memory growth per subscriber
    # is then not hidden by memory an earlier scenario left behind.
    "sse-fanout": fanout_to("sse", "Server-Sent Events", "GET /events"),
    "ws-fanout": fanout_to("websockets", "WebSocket", "/ws"),
    "soak": Scenario(
        title="Realtime soak: 1,000 SSE + 1,000 WebSocket subscribers, 20/s",
        how=(
            "The fan-out client with half of the subscribers on each endpoint "
            "posts up to 20 messages/s, one at a time, for --soak-seconds (60); "
            "the rate is the posting rate reached (20 is the target), the latency "
            "and losses are every subscriber's, the memory the server's peak."
        ),
        unit="messages/s posted",
        realtime=True,
        needs_answers=frozenset({"sse", "websockets"}),
        measure=soak_scenario,
        warm_up=lambda server: fanout_warm_up(server, "both"),
    ),
    "json": Scenario(
        title="Small JSON response (GET /health/live), 50 connections",
        how="wrk, HTTP/1.1 keep-alive, 50 connections.",
        unit="req/s",
        measure=load_scenario("/health/live", 50),
        warm_up=lambda server: wrk(server.url + "/health/live", 50, 1),
        fresh_servers=True,  # memory from here on is not the fan-out's
    ),
    "io-100": Scenario(
        title="50 ms of awaited I/O (GET /bench/io), 100 connections",
        how="wrk, 100 connections; the physical limit is 100 / 0.05 s = 2,000 req/s",
        unit="req/s",
        measure=load_scenario("/bench/io", 100),
        warm_up=lambda server: wrk(server.url + "/bench/io", 100, 1),
    ),
    "io-1000": Scenario(
        title="50 ms of awaited I/O (GET /bench/io), 1,000 connections",
        how="wrk, 1,000 connections; the physical limit is 20,000 req/s.",
        unit="req/s",
        measure=load_scenario("/bench/io", 1000),
    ),
    "slow-upstream": Scenario(
        title="A slow upstream (GET /bench/slow awaits 1 s), 2,000 connections",
        how=(
            "wrk, 2,000 connections for at least 5 s; every request waits 1 s on "
            "I/O, so the physical limit is 2,000 req/s. A thread per request caps "
            "Flask's 100 threads at 100 req/s."
        ),
        unit="req/s",
        measure=load_scenario("/bench/slow", 2000, min_seconds=5),
    ),
    "idle-10k": Scenario(
        title="10,000 idle keep-alive connections",
        how=(
            "The bench's asyncio client opens 10,000 connections, 250 at a time, "
            "with one GET /health/live answered on each, and holds them all open; "
            "the figure is how many were open and answered at once, the memory "
            "per connection the server's RSS growth over them."
        ),
        unit="connections held",
        measure=idle_scenario,
        needs_keep_alive=True,
    ),
    "sse-10k": Scenario(
        title="10,000 SSE subscribers",
        how=(
            "The fan-out client opens 10,000 SSE streams and posts 5 messages at "
            "5/s once every stream has the warm-up message: deliveries/s, losses "
            "and memory per open stream."
        ),
        unit="deliveries/s",
        realtime=True,
        needs_answers=frozenset({"sse"}),
        measure=sse_crowd_scenario,
    ),
    "messages": Scenario(
        title="Messages API on PostgreSQL, 100 connections",
        how=(
            "wrk, 100 connections: 4 of 5 requests read a page of 20 messages "
            "(GET /api/messages?limit=20), 1 of 5 writes one (POST /api/messages); "
            "every server has a pool of the same size."
        ),
        unit="req/s",
        needs_api=True,
        measure=load_scenario("/", 100, MESSAGES_SCRIPT),
        warm_up=lambda server: wrk(server.url + "/", 100, 1, MESSAGES_SCRIPT),
    ),
    "http2": Scenario(
        title="HTTP/2 (h2load, GET /health/live), 50 connections",
        how=(
            "h2load, 50 connections: HTTP/2 over cleartext (h2c) with 10 concurrent "
            "streams per connection where the server speaks it, else HTTP/1.1."
        ),
        unit="req/s",
        measure=http2_scenario,
        needs_keep_alive=True,
    ),
    "cold-start": Scenario(
        title="Cold start: process start to the first 200 on /health/live",
        how=("A new process on another port each round; memory is its RSS then."),
        unit="seconds",
        lower_is_better=True,
        measure=cold_start,
    ),
}


def check_same_answers(servers: list[Server]) -> None:
    """Refuse to measure servers that do not answer the same requests alike."""
    import httpx

    def shape(server: Server) -> list[object]:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            answers = [http.get("/health/live"), http.get("/bench/io")]
            if not server.api:
                return [[(a.status_code, sorted(a.json())) for a in answers]]
            answers.append(http.post("/api/messages", json={"text": "same answers"}))
            answers.append(http.get("/api/messages", params={"limit": 2}))
            rejected = http.post("/api/messages", json={"text": ""}).status_code
        body = answers[3].json()
        return [
            [(a.status_code, sorted(a.json())) for a in answers],
            sorted(body["messages"][0]),
            len(body["messages"]),
            400 <= rejected < 500,
        ]

    expected = shape(servers[0])
    for server in servers[1:]:
        got = shape(server)
        if got != (expected if server.api else [expected[0][:2]]):
            raise RuntimeError(
                f"{server.name} answers {got}, {servers[0].name} {expected}"
            )


def versions(python: Path, packages: list[str]) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys; "
        "print(json.dumps({p: m.version(p) for p in sys.argv[1:]}))"
    )
    result = subprocess.run(
        [str(python), "-c", code, *packages], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    tools = {}
    for tool, flag in (("wrk", "-v"), ("h2load", "--version")):
        out = subprocess.run([tool, flag], capture_output=True, text=True, check=False)
        tools[tool] = (out.stdout + out.stderr).splitlines()[0].strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(
            os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        ),
        "kernel": platform.release(),
        **tools,
    }


class SinkHandler(http.server.BaseHTTPRequestHandler):
    """Takes every OTLP/HTTP export and answers 200 with an empty
    ExportTraceServiceResponse (an empty protobuf message is no bytes)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def otlp_sink() -> http.server.ThreadingHTTPServer:
    """A collector that keeps nothing, for the traced service's spans."""
    sink = http.server.ThreadingHTTPServer((HOST, OTLP_SINK_PORT), SinkHandler)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    return sink


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.smoke and args.readme:
        sys.exit("bench: a smoke run measures nothing to publish: drop --readme")
    load_cores = set(range(1, os.cpu_count() or 1))
    if load_cores:  # the servers get core 0 (servers.pin); this client the rest
        os.sched_setaffinity(0, load_cores)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    answers = {**DEFAULT_ANSWERS}
    for raw in args.answer:
        key, _, value = raw.partition("=")
        answers[key] = answer_value(value)
    if answers.get("database") != "postgresql":
        sys.exit(
            "bench: the peers store messages in PostgreSQL: keep database=postgresql"
        )
    began = time.perf_counter()
    results_dir = args.results.resolve()
    results_dir.mkdir(parents=True, exist_ok=True)
    logs = Path(tempfile.mkdtemp(prefix="logs-", dir=results_dir))
    service = results_dir / "service"
    print(f"rendering the service with {answers} ...", flush=True)
    package = render_service(service, answers)
    install_all(service, args.python)
    granian_service = None
    if answers.get("http") != "h3":  # Granian has no HTTP/3
        granian_service = results_dir / "service-granian"
        render_service(granian_service, {**answers, "server": "granian"})
        install(granian_service, args.python)
    # A smoke run may overlap a real one (the test suite): its own databases.
    prefix = f"bench_smoke_{os.getpid()}" if args.smoke else "bench"
    servers = make_servers(service, package, args.pool_size, prefix, granian_service)
    if args.compare:
        compared = results_dir / "service-compared"
        render_service(compared, answers, ref=args.compare)
        install(compared, args.python)
        servers.insert(1, compared_service(servers[0], compared, args.compare, 8107))
        if granian_service is not None:
            compared = results_dir / "service-granian-compared"
            render_service(compared, {**answers, "server": "granian"}, ref=args.compare)
            install(compared, args.python)
            base = next(s for s in servers if s.name == GRANIAN_SERVICE)
            at = servers.index(base) + 1
            servers.insert(at, compared_service(base, compared, args.compare, 8113))
    if args.servers:
        wanted = set(args.servers.split(","))
        keep = {SERVICE, *wanted}
        servers = [s for s in servers if s.name in keep or "@" in s.name]
    else:
        servers = [s for s in servers if not s.optional]
    for server in servers:
        if server.h2c:
            server.h2c = answers.get("http") != "h1"
    chosen = args.only.split(",") if args.only else list(SCENARIOS)
    if args.smoke:
        for server in servers:
            server.pinned = False  # all at once (see each()): every core
    create_databases(servers)
    results: list[dict[str, Any]] = []
    skipped: set[str] = set()

    def start(server: Server, args: argparse.Namespace, logs: Path) -> None:
        server.start(logs / f"{server.name}.log")
        seed(server, 200)

    sink = otlp_sink() if any(s.name == TRACED for s in servers) else None
    try:
        for _ in each(start, servers, args, logs):
            pass
        check_same_answers(servers)
        print(f"servers up after {time.perf_counter() - began:.0f}s", flush=True)
        for name in chosen:
            scenario = SCENARIOS[name]
            if not all(answers.get(needed) for needed in scenario.needs_answers):
                skipped.add(name)
                continue  # the service was rendered without that endpoint
            runnable = [
                s
                for s in servers
                if (s.realtime or not scenario.realtime)
                and (s.keep_alive or not scenario.needs_keep_alive)
                and (s.api or not scenario.needs_api)
            ]
            if scenario.fresh_servers and not args.smoke:
                for server in servers:
                    server.stop()
                    server.start(logs / f"{server.name}.log")
            if scenario.warm_up is not None and not args.smoke:
                for server in runnable:
                    scenario.warm_up(server)
            samples: dict[str, list[dict[str, Any]]] = {s.name: [] for s in runnable}
            for round_ in range(args.rounds):
                order = (
                    runnable[round_ % len(runnable) :]
                    + runnable[: round_ % len(runnable)]
                )
                for server, sample in each(scenario.measure, order, args, logs):
                    samples[server.name].append(sample)
                    print(
                        f"  {name:<11} round {round_ + 1} {server.name:<24} "
                        f"{sample['rate']:>10,.2f} {scenario.unit}",
                        flush=True,
                    )
            rows = {n: summarize(s, "rate") for n, s in samples.items() if s}
            for n, s in samples.items():
                if s and "protocol" in s[0]:
                    rows[n]["protocol"] = s[0]["protocol"]
            add_ratios(rows)
            results.append(
                {
                    "name": name,
                    "title": scenario.title,
                    "how": scenario.how,
                    "unit": scenario.unit,
                    "lower_is_better": scenario.lower_is_better,
                    "servers": rows,
                }
            )
    finally:
        for server in servers:
            server.stop()
        drop_databases(servers)
        if sink is not None:
            sink.shutdown()
    elapsed = time.perf_counter() - began
    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(elapsed),
        "settings": {
            k: str(v) if isinstance(v, Path) else v
            for k, v in vars(args).items()
            if k != "readme"
        },
        "answers": answers,
        "machine": machine(),
        "versions": {
            "service": versions(
                service / ".venv" / "bin" / "python",
                [
                    "quart",
                    "hypercorn",
                    "uvicorn",
                    "quart-schema",
                    "sqlalchemy",
                    "asyncpg",
                ],
            ),
            "peers": versions(
                REPO / "bench" / "peers" / ".venv" / "bin" / "python",
                ["fastapi", "uvicorn", "flask", "gunicorn", "asyncpg", "psycopg"],
            ),
            "python": subprocess.run(
                [str(service / ".venv" / "bin" / "python"), "--version"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip(),
        },
        "servers": {s.name: s.description for s in servers},
        "scenarios": results,
    }
    text = table(results)
    print("\n" + text)
    stamp = report["date"].replace(":", "")
    for path in (results_dir / f"bench-{stamp}.json", results_dir / "latest.json"):
        path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"JSON: {results_dir / 'latest.json'}; logs: {logs}; took {elapsed:.0f}s")
    if args.readme:
        write_readme(report, text)
    if args.smoke and (
        problems := smoke_problems(
            results, servers, [name for name in chosen if name not in skipped]
        )
    ):
        print("bench smoke run failed:\n" + "\n".join(problems), file=sys.stderr)
        return 1
    return 0


def each(
    step: Callable[[Server, argparse.Namespace, Path], T],
    servers: list[Server],
    args: argparse.Namespace,
    logs: Path,
) -> Iterator[tuple[Server, T]]:
    """Run *step* on each server in turn, yielding each result as it comes.

    A smoke run, whose figures are not judged, runs them all at once: its
    budget is the suite's, and concurrent servers still fail loudly.
    """
    if not args.smoke:
        for server in servers:
            yield server, step(server, args, logs)
        return
    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        futures = [(s, pool.submit(step, s, args, logs)) for s in servers]
        for server, future in futures:
            yield server, future.result()


def smoke_problems(
    results: list[dict[str, Any]], servers: list[Server], chosen: list[str]
) -> list[str]:
    """What a smoke run got wrong: a scenario that did not run, a server
    without its row, a failed request or a lost message."""
    problems = []
    ran = {result["name"]: result for result in results}
    for name in chosen:
        if name not in ran:
            problems.append(f"{name}: did not run")
            continue
        rows = ran[name]["servers"]
        for server in servers:
            scenario = SCENARIOS[name]
            if (
                (scenario.realtime and not server.realtime)
                or (scenario.needs_keep_alive and not server.keep_alive)
                or (scenario.needs_api and not server.api)
            ):
                continue
            row = rows.get(server.name)
            if row is None:
                problems.append(f"{name}: no row for {server.name}")
            elif bad := row.get("failures") or row.get("lost"):
                problems.append(f"{name}: {server.name} failed or lost {bad}")
            elif not row.get("median"):
                problems.append(f"{name}: {server.name} measured nothing")
    return problems


def write_readme(report: dict[str, Any], text: str) -> None:
    """Replace the results section of bench/README.md."""
    begin, end = "<!-- results -->", "<!-- /results -->"
    readme = README.read_text(encoding="utf-8")
    head, _, rest = readme.partition(begin)
    _, _, tail = rest.partition(end)
    m, v = report["machine"], report["versions"]
    servers = "\n".join(
        f"- **{name}**: {what}" for name, what in report["servers"].items()
    )
    body = (
        f"\nRun on {report['date']} in {report['seconds']} s: {m['cores']} cores "
        f"({m['cpu']}), {m['memory_gib']} GiB, Linux {m['kernel']}; {m['wrk']}; "
        f"{m['h2load']}.\n{v['python']}; service: "
        + ", ".join(f"{k} {x}" for k, x in v["service"].items())
        + "; peers: "
        + ", ".join(f"{k} {x}" for k, x in v["peers"].items())
        + f".\nAnswers: `{json.dumps(report['answers'])}`; settings: "
        f"`{json.dumps(report['settings'])}`.\n\n{servers}\n\n{text}\n"
    )
    README.write_text(head + begin + body + end + tail, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
