"""Words that belong to one feature: a rendering without it must not say them.

A file kept for every combination easily keeps a sentence about a feature
the answers left out (a docstring about MySQL on PostgreSQL, a WebSocket in a
service with none). This table, the one place that knows which words belong
to which answer, lets ``test_combinations`` look for them in every rendering.
Words are matched case-sensitively, as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .generated import VENDORED_DIR, Project
from .matrix import Combination


@dataclass(frozen=True)
class Feature:
    """What a set of answers has, and the words only it may use."""

    name: str
    enabled: Callable[[Combination], bool]
    words: tuple[str, ...]


FEATURES = (
    Feature(
        "websockets",
        lambda c: c.websockets,
        ("WebSocket", "/ws", "wsproto"),
    ),
    Feature(
        "sse",
        lambda c: c.sse,
        ("event stream", "Last-Event-ID", "/events", "format_event"),
    ),
    Feature(
        "realtime",
        lambda c: c.realtime,
        ("add_drain_callback", "broker.py", "subscriber"),
    ),
    Feature("redis", lambda c: c.needs_redis, ("Redis", "REDIS_URL")),
    Feature(
        "a database",
        lambda c: c.database != "none",
        ("SQLAlchemy", "Alembic", "DATABASE_URL"),
    ),
    Feature(
        "sqlite",
        lambda c: c.database == "sqlite",
        ("SQLite", "aiosqlite", "database file"),
    ),
    Feature(
        "postgresql",
        lambda c: c.database == "postgresql",
        ("PostgreSQL", "asyncpg"),
    ),
    Feature(
        "mysql",
        lambda c: c.database == "mysql",
        ("MySQL", "MariaDB", "asyncmy"),
    ),
    Feature("h3", lambda c: c.http == "h3", ("quic_bind", "aioquic", "QUIC")),
    Feature(
        "hypercorn",
        lambda c: c.server == "hypercorn",
        ("Hypercorn", "hypercorn.toml", "HYPERCORN_CONFIG"),
    ),
    Feature("granian", lambda c: c.server == "granian", ("Granian", "granian")),
    Feature("docker", lambda c: c.docker, ("Dockerfile", "compose.yaml")),
)

# The migrations are history, written once for every database (a migration
# that already ran must not change), and uv.lock is uv's.
NOT_CHECKED = re.compile(r"(^|/)migrations/versions/|^uv\.lock$")


def leftover_mentions(project: Project) -> list[str]:
    """Each mention, in *project*, of a feature its answers left out."""
    absent = [f for f in FEATURES if not f.enabled(project.combination)]
    problems = []
    for path in project.files():
        relative = path.relative_to(project.path).as_posix()
        if VENDORED_DIR.match(relative) or NOT_CHECKED.search(relative):
            continue
        text = path.read_text(errors="replace")
        problems.extend(
            f"{relative}: says {word!r} without {feature.name}"
            for feature in absent
            for word in feature.words
            if word in text
        )
    return problems
