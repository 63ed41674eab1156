"""Where the service's time goes: ``uv run bench/profile_service.py``.

Starts the service rendered by the last ``bench/run.py`` (bench/results/service)
as users run it, loads one endpoint with wrk, samples it with py-spy and
prints the share of CPU samples by the package each frame belongs to: inclusive
(the package is anywhere on the stack) and self (it is the innermost frame).
Writes a flame graph (SVG) next to the JSON results.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import uvloop
from fanout import fanout
from load import MESSAGES_SCRIPT, wrk
from servers import REPO, create_databases, drop_databases, make_servers

RESULTS = REPO / "bench" / "results"
# A frame is "function (path/to/file.py:line)"; the package is read off the path.
_FRAME = re.compile(r"\((?P<file>[^():]+):\d+\)$")


def package_of(frame: str, service: str) -> str:
    """The top-level package of *frame*'s file (py-spy prints paths from it)."""
    match = _FRAME.search(frame)
    if match is None:
        return "(native or idle)"
    parts = match["file"].split("/")
    top = parts[0].removesuffix(".py")
    if top == service:
        # The entry point only starts the loop: every frame has it below.
        return "(event loop)" if parts[-1] in {"__main__.py", "server.py"} else service
    if top in sys.stdlib_module_names or top.startswith("<frozen"):
        return "(event loop)" if top in {"runpy", "<frozen runpy>"} else f"stdlib {top}"
    return top


def summarize(raw: Path, service: str, top: int = 14) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        total += samples
        frames = stack.split(";")
        packages = {package_of(frame, service) for frame in frames}
        for package in packages:
            inclusive[package] += samples
        own[package_of(frames[-1], service)] += samples
    rows = ["| package | inclusive % | self % |", "|---|---:|---:|"]
    for package, samples in inclusive.most_common(top):
        rows.append(
            f"| {package} | {samples * 100 / total:.1f} "
            f"| {own[package] * 100 / total:.1f} |"
        )
    return "\n".join(rows) + f"\n\n{total} samples."


def run_fanout(
    port: int, kind: str, subscribers: int, messages: int, rate: float
) -> None:
    uvloop.run(fanout(port, kind, subscribers, messages, rate, memory=lambda: 0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--path",
        default="/health/live",
        help="what to load; 'messages': the API mix; 'sse-fanout', 'ws-fanout', "
        "'both-fanout' (half of each)",
    )
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--server", default="quart-service")
    parser.add_argument(
        "--rate", type=float, default=40, help="fan-out: messages/s to post (40)"
    )
    args = parser.parse_args()
    if (os.cpu_count() or 1) > 1:  # the server gets core 0 (servers.pin)
        os.sched_setaffinity(0, set(range(1, os.cpu_count() or 1)))
    service_dir = RESULTS / "service"
    if not (service_dir / ".venv").is_dir():
        sys.exit("profile: run bench/run.py first (it renders bench/results/service)")
    package = next(p.name for p in (service_dir / "src").iterdir() if p.is_dir())
    servers = {s.name: s for s in make_servers(service_dir, package, 10)}
    server = servers[args.server]
    create_databases([server])
    log = RESULTS / f"profile-{server.name}.log"
    server.start(log)
    raw = RESULTS / f"profile-{server.name}.txt"
    svg = RESULTS / f"profile-{server.name}.svg"
    try:
        assert server.process is not None
        script = None
        path = args.path
        if path == "messages":
            script, path = MESSAGES_SCRIPT, "/"
        if path.endswith("-fanout"):  # sse-, ws-, both-fanout: --rate messages/s
            kind, rate = path.removesuffix("-fanout"), args.rate

            def fan_out() -> None:
                messages = int(rate * (args.seconds + 6))
                run_fanout(server.port, kind, args.connections, messages, rate)

            load = threading.Thread(target=fan_out)
        else:
            load = threading.Thread(
                target=wrk,
                args=(server.url + path, args.connections, args.seconds + 2, script),
            )
        load.start()
        if path.endswith("-fanout"):
            # until the subscribers are connected and warm
            time.sleep(5 + args.connections / 200)
        for output, form in ((raw, "raw"), (svg, "flamegraph")):
            subprocess.run(
                [
                    "py-spy",
                    "record",
                    "--pid",
                    str(server.process.pid),
                    "--duration",
                    str(int(args.seconds / 2)),
                    "--rate",
                    "250",
                    "--format",
                    form,
                    "--output",
                    str(output),
                    "--nonblocking",
                ],
                check=True,
                capture_output=True,
            )
        load.join()
    finally:
        server.stop()
        drop_databases([server])
    print(f"{server.name}, GET {args.path}, {args.connections} connections:\n")
    print(summarize(raw, package))
    print(f"\nflame graph: {svg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
