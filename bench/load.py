"""HTTP load from Debian's wrk (HTTP/1.1) and h2load (HTTP/2), and their reports.

Both run pinned away from the server's core, for a fixed time, on 127.0.0.1.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from servers import pin

# The messages API at work: 80% reads of a 20-message page, 20% writes.
MESSAGES_SCRIPT = Path(__file__).with_name("messages.lua")

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass
class LoadResult:
    """What one load run measured."""

    requests: int
    seconds: float
    failures: int  # non-2xx/3xx answers plus socket errors and timeouts
    p50_ms: float | None
    p99_ms: float | None

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"not a duration: {text!r}")
    number, unit = match.groups()
    return float(number) * _UNITS[unit]


def _output(command: list[str], timeout: float) -> str:
    """What a load tool printed (stdout then stderr); it reports failures there."""
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=False
    )
    return result.stdout + result.stderr


def parse_wrk(output: str) -> LoadResult:
    """Read wrk's ``--latency`` report."""
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    if done is None:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    requests, seconds = int(done[1]), _ms(done[2] + done[3]) / 1000
    failures = 0
    if non_2xx := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        failures += int(non_2xx[1])
    if errors := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        failures += sum(int(n) for n in errors.groups())
    percentiles = dict(
        re.findall(r"^\s+(50|99)%\s+([\d.]+(?:us|ms|s|m))\s*$", output, re.M)
    )
    return LoadResult(
        requests,
        seconds,
        failures,
        _ms(percentiles["50"]) if "50" in percentiles else None,
        _ms(percentiles["99"]) if "99" in percentiles else None,
    )


def wrk(
    url: str, connections: int, seconds: float, script: Path | None = None
) -> LoadResult:
    """Load *url* from *connections* keep-alive connections for *seconds*."""
    command = [
        *pin(1),
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    if script is not None:
        command += ["-s", str(script)]
    return parse_wrk(_output([*command, url], timeout=seconds + 60))


def parse_h2load(output: str) -> LoadResult:
    """Read h2load's summary."""
    finished = re.search(r"finished in ([\d.]+)(us|ms|s|m), ([\d.]+) req/s", output)
    counts = re.search(
        r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, "
        r"(\d+) errored",
        output,
    )
    if finished is None or counts is None:
        raise RuntimeError(f"h2load printed no result:\n{output}")
    seconds = _ms(finished[1] + finished[2]) / 1000
    succeeded = int(counts[2])
    status = re.search(
        r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", output
    )
    bad = int(status[3]) + int(status[4]) if status else 0
    # h2load reports no percentiles, only min/max/mean: leave them out.
    return LoadResult(
        succeeded - bad, seconds, int(counts[3]) + int(counts[4]) + bad, None, None
    )


def h2load(
    url: str, connections: int, streams: int, seconds: float, *, http2: bool
) -> LoadResult:
    """h2load for *seconds*: HTTP/2 with *streams* per connection, or HTTP/1.1."""
    command = [
        *pin(1),
        "h2load",
        f"-c{connections}",
        f"-D{seconds:g}",
        "--warm-up-time=1",
    ]
    command += [f"-m{streams}"] if http2 else ["--h1"]
    try:
        output = _output([*command, url], timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        return LoadResult(0, seconds, connections, None, None)  # it never finished
    return parse_h2load(output)
