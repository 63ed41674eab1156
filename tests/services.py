"""The servers the tests need (PostgreSQL, MariaDB, Redis) and state of their
own on them for each service a test boots.

On a developer machine a test whose server is missing skips with the
reason; under CI (``CI=true``) it fails instead.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest

from .databases import DatabaseUnavailable, scratch_database, server_url
from .matrix import Combination

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def in_ci() -> bool:
    """Whether the suite runs in CI, where a missing service fails, not skips."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(message: str, in_ci: bool) -> None:
    """A service a test needs is missing: skip it, or under CI fail it."""
    if in_ci:
        pytest.fail(f"{message} (CI=true: required, not skipped)")
    pytest.skip(message)


def service_available(url: str, service: str, in_ci: bool) -> None:
    """Skip (or under CI fail) unless something answers at *url*."""
    parsed = urlparse(url)
    try:
        socket.create_connection((parsed.hostname, parsed.port), timeout=2).close()
    except OSError as error:
        missing(f"{service} at {url} does not answer: {error}", in_ci)


class Databases:
    """Databases of a test's own for the services it boots, dropped after it."""

    def __init__(self, stack: contextlib.ExitStack, directory: Path, in_ci: bool):
        self.stack = stack
        self.directory = directory
        self.in_ci = in_ci

    def env(self, combination: Combination) -> dict[str, str]:
        """State of its own for a service of *combination*: ``DATABASE_URL``
        of a fresh database, and a Redis key prefix no other service uses."""
        env = {}
        if combination.needs_redis:
            prefix = f"template-test-{uuid.uuid4().hex}:"
            self.stack.callback(drop_redis_keys, prefix)
            env["REDIS_PREFIX"] = prefix
        if combination.database == "none":
            return env
        try:
            url = self.stack.enter_context(
                scratch_database(combination.database, self.directory)
            )
        except DatabaseUnavailable as error:
            missing(str(error), self.in_ci)
        return {**env, "DATABASE_URL": url}


# Deletes the keys that match ARGV[1], in Redis itself (one round trip).
DROP_KEYS = (
    "local keys = redis.call('KEYS', ARGV[1]) "
    "for _, key in ipairs(keys) do redis.call('DEL', key) end "
    "return #keys"
)


def drop_redis_keys(prefix: str) -> None:
    """Delete the keys under *prefix* that a booted service left in Redis
    (a missing Redis has nothing to delete)."""
    parsed = urlparse(REDIS_URL)
    database = (parsed.path or "/0").lstrip("/") or "0"
    commands = [
        [b"SELECT", database.encode()],
        [b"EVAL", DROP_KEYS.encode(), b"0", f"{prefix}*".encode()],
    ]
    request = b"".join(
        b"*%d\r\n" % len(words)
        + b"".join(b"$%d\r\n%s\r\n" % (len(word), word) for word in words)
        for words in commands
    )
    with contextlib.suppress(OSError):
        with socket.create_connection(
            (parsed.hostname, parsed.port or 6379), timeout=5
        ) as connection:
            connection.sendall(request)
            replies = b""
            while replies.count(b"\r\n") < len(commands):
                chunk = connection.recv(1024)
                if not chunk:
                    break
                replies += chunk
        assert replies.startswith(b"+OK\r\n:"), f"Redis: {replies!r}"


def own_test_env(combination: Combination) -> dict[str, str]:
    """Environment for a service's own tests: the servers they may need."""
    env = {"TEST_REDIS_URL": REDIS_URL}
    if combination.database_server:
        env["TEST_DATABASE_URL"] = server_url(combination.database)
    return env
