"""Summaries of the rounds: medians, min, max and ratios to the service."""

from __future__ import annotations

import statistics
from typing import Any

SERVICE = "quart-service"
GRANIAN_SERVICE = "quart-service-granian"  # the same answers with server=granian
# Memory figures per connection a scenario may report, and what they count.
PER_CONNECTION = {
    "bytes_per_subscriber": "subscriber",
    "bytes_per_connection": "connection",
}


def summarize(samples: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """Median, min and max of *metric*, and the medians of the rest, over rounds."""
    values = [sample[metric] for sample in samples]
    summary: dict[str, Any] = {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "rounds": len(values),
    }
    for key in samples[0]:
        if key == metric:
            continue
        numbers = [s[key] for s in samples if isinstance(s.get(key), int | float)]
        if not numbers:
            continue
        if key in {"failures", "lost"}:
            summary[key] = sum(numbers)
        elif key in {"peak_rss", "bytes_per_subscriber", "bytes_per_connection"}:
            summary[key] = max(numbers)  # the worst round
        else:
            summary[key] = statistics.median(numbers)
    return summary


def add_ratios(rows: dict[str, dict[str, Any]]) -> None:
    """Each row's ``service_ratio``: the service's median over this row's.

    For a rate, above 1 means the service is ahead; for seconds (cold start),
    below 1 does. ``memory_ratio`` is the service's peak memory over this row's.
    """
    service = rows.get(SERVICE)
    if service is None:
        return
    for row in rows.values():
        row["service_ratio"] = (
            service["median"] / row["median"] if row["median"] else None
        )
        if row.get("peak_rss") and service.get("peak_rss"):
            row["memory_ratio"] = service["peak_rss"] / row["peak_rss"]


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def table(scenarios: list[dict[str, Any]]) -> str:
    """A Markdown table per scenario."""
    out: list[str] = []
    for scenario in scenarios:
        unit = scenario["unit"]
        better = "lower" if scenario["lower_is_better"] else "higher"
        out.append(f"### {scenario['title']}\n")
        out.append(f"{scenario['how']}\n")
        out.append(
            f"| server | {unit} median ({better} is better) | min | max "
            "| p50 ms | p99 ms "
            "| peak MB | CPU s / 1k req | failed or lost | service ÷ server | "
            "memory: service ÷ server |"
        )
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        digits = 2 if scenario["lower_is_better"] else 0
        for name, row in scenario["servers"].items():
            peak = row.get("peak_rss")
            bad = row.get("failures", row.get("lost"))
            out.append(
                f"| {name} | {_fmt(row['median'], digits)} "
                f"| {_fmt(row['min'], digits)} "
                f"| {_fmt(row['max'], digits)} | {_fmt(row.get('p50_ms'), 1)} "
                f"| {_fmt(row.get('p99_ms'), 1)} "
                f"| {_fmt(peak / 2**20 if peak else None, 1)} "
                f"| {_fmt(row.get('cpu_per_1000'), 3)} | {_fmt(bad)} "
                f"| {_fmt(row.get('service_ratio'), 2)} "
                f"| {_fmt(row.get('memory_ratio'), 2)} |"
            )
        extra = [
            f"{name}: {_fmt(row[key] / 1024, 1)} KiB per {what}"
            for name, row in scenario["servers"].items()
            for key, what in PER_CONNECTION.items()
            if key in row
        ]
        if extra:
            out.append("\nMemory per connection: " + "; ".join(extra) + ".")
        out.append("")
    return "\n".join(out)
