"""Throwaway databases on the machine's PostgreSQL and MariaDB servers.

Every test that needs a database gets one of its own (``tq_<random>``) and
drops it afterwards, so parallel workers never share state.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pymysql

SERVERS = {
    "postgresql": os.environ.get(
        "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    ),
    "mysql": os.environ.get("TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
}


class DatabaseUnavailable(RuntimeError):
    """The database server of a combination does not answer."""


def server_url(kind: str) -> str:
    """The admin URL of the *kind* server (``TEST_POSTGRES_URL``/``TEST_MYSQL_URL``)."""
    return SERVERS[kind]


def execute(kind: str, statement: str) -> None:
    """Run one admin *statement* on the *kind* server, autocommitted."""
    url = urlparse(server_url(kind))
    try:
        if kind == "postgresql":
            with psycopg.connect(server_url(kind), autocommit=True) as connection:
                connection.execute(statement)  # type: ignore[arg-type]
        else:
            connection = pymysql.connect(
                host=url.hostname,
                port=url.port or 3306,
                user=url.username or "root",
                password=url.password or "",
                autocommit=True,
            )
            with connection, connection.cursor() as cursor:
                cursor.execute(statement)
    except (psycopg.OperationalError, pymysql.err.OperationalError) as error:
        raise DatabaseUnavailable(f"{kind} at {server_url(kind)}: {error}") from error


def connections(kind: str, name: str) -> int:
    """How many sessions are connected to PostgreSQL database *name*."""
    assert kind == "postgresql"
    with psycopg.connect(server_url(kind), autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def url_for(kind: str, name: str) -> str:
    """The URL of database *name* on the *kind* server."""
    return urlparse(server_url(kind))._replace(path=f"/{name}").geturl()


def create(kind: str, name: str) -> None:
    """Create database *name*."""
    execute(kind, f"CREATE DATABASE {name}")


def drop(kind: str, name: str) -> None:
    """Drop database *name*, closing the connections still using it."""
    if kind == "postgresql":
        execute(kind, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    else:
        execute(kind, f"DROP DATABASE IF EXISTS {name}")


@contextlib.contextmanager
def scratch_database(kind: str, directory: Path) -> Iterator[str]:
    """A ``DATABASE_URL`` of its own for a service of *kind*; removed after."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / f'tq_{uuid.uuid4().hex[:12]}.sqlite3'}"
        return
    name = f"tq_{uuid.uuid4().hex[:12]}"
    create(kind, name)
    try:
        yield url_for(kind, name)
    finally:
        drop(kind, name)
