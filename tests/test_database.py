"""Combinations with a database (a covering set), each booted against a real
database of its own: migrations by the service's own ``alembic``, messages
that survive a restart, and a database that goes away and comes back."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from . import databases as servers
from .generated import Project, run
from .matrix import Combination
from .projects import ProjectFactory, matrix_params
from .services import Databases

pytestmark = pytest.mark.slow


# Covering sets: every pair of answers among the combinations with a database
# (the store and broker wiring, the endpoints, the Python), each at least once.
WITH_DATABASE = matrix_params(lambda c: c.database != "none", cover=2)
SERVER_DATABASES = matrix_params(lambda c: c.database_server, cover=2)
POOL_SIZE = 3
PRODUCTION = {"APP_ENV": "production", "SECRET_KEY": "template-tests-secret"}


def alembic(project: Project, env: dict[str, str], *args: str) -> str:
    """Run the service's own ``alembic`` command line."""
    command = [str(project.python.parent / "alembic"), *args]
    result = run(command, project.path, env={**project.run_env(), **env})
    return result.stdout + result.stderr


def wait_for(http: httpx.Client, path: str, status: int, seconds: float = 20) -> Any:
    """Poll *path* until it combination *status*; return the last body."""
    deadline = time.monotonic() + seconds
    while True:
        response = http.get(path)
        if response.status_code == status or time.monotonic() > deadline:
            assert response.status_code == status, response.text
            return response.json()
        time.sleep(0.2)


@pytest.mark.parametrize("combination", WITH_DATABASE)
def test_migrate_serve_restart_and_read_back(
    projects: ProjectFactory, combination: Combination, databases: Databases
) -> None:
    """Production on a fresh database: refused until migrated, then durable."""
    project = projects.installed(combination)
    env = {**databases.env(combination), **PRODUCTION}

    with project.serve(env) as service, service.client() as http:
        assert http.get("/health/live").status_code == 200
        ready = http.get("/health/ready")
        assert ready.status_code == 503
        assert "run `alembic upgrade head`" in ready.json()["checks"]["schema"]
        refused = http.post("/api/messages", json={"text": "too early"})
        assert refused.status_code == 503
        assert "alembic upgrade head" in refused.json()["message"]

        assert "Running upgrade  -> 0001" in alembic(project, env, "upgrade", "head")
        wait_for(http, "/health/ready", 200)
        posted = [
            http.post("/api/messages", json={"text": f"durable {n}"}).json()
            for n in range(3)
        ]
        assert service.stop()[0] == 0

    with project.serve(env) as service, service.client() as http:
        for message in posted:
            assert http.get(f"/api/messages/{message['id']}").json() == message
        page = http.get("/api/messages", params={"limit": 2}).json()
        assert page["messages"] == posted[:0:-1]
        assert page["next_before"] == posted[1]["id"]
        newer = http.post("/api/messages", json={"text": "after restart"}).json()
        assert newer["id"] > posted[-1]["id"]
        assert service.stop()[0] == 0

    assert "Running downgrade 0001 -> " in alembic(project, env, "downgrade", "base")
    assert "Running upgrade  -> 0001" in alembic(project, env, "upgrade", "head")
    assert "0001 (head)" in alembic(project, env, "current")


@pytest.mark.parametrize("combination", SERVER_DATABASES)
def test_database_outage_and_recovery(
    projects: ProjectFactory, combination: Combination, databases: Databases
) -> None:
    project = projects.installed(combination)
    kind = combination.database
    env = databases.env(combination)
    name = env["DATABASE_URL"].rsplit("/", 1)[1]
    env = {**env, "DB_CONNECT_TIMEOUT": "2", "DB_POOL_SIZE": str(POOL_SIZE)}
    with project.serve(env) as service:
        with service.client() as http:
            assert (
                http.post("/api/messages", json={"text": "before"}).status_code == 201
            )

            servers.drop(kind, name)  # the database vanishes under the service
            checks = wait_for(http, "/health/ready", 503)["checks"]
            # PostgreSQL refuses the connection; MySQL still connects and
            # combination SELECT 1, but the schema check finds no tables. The
            # broker fails too once its next read of new messages (within a
            # second) has failed.
            failing = {name for name, result in checks.items() if result != "ok"}
            assert failing - {"broker"} == (
                {"database", "schema"} if kind == "postgresql" else {"schema"}
            )
            assert http.get("/health/live").status_code == 200
            failed = http.post("/api/messages", json={"text": "during"})
            assert failed.status_code == 503
            assert failed.json()["status"] == 503

            servers.create(kind, name)  # it comes back (empty: migrate it)
            wait_for(http, "/health/ready", 200)
            for _ in range(20):
                http.get("/api/messages")
            if kind == "postgresql":  # the pool holds at most DB_POOL_SIZE
                assert servers.connections(kind, name) <= POOL_SIZE
            assert http.post("/api/messages", json={"text": "after"}).status_code == 201
        assert service.stop()[0] == 0
    assert "Traceback" not in service.log()
