"""Fixtures shared by the template tests.

Each xdist worker snapshots the template once. The matrix tests take a
``project`` fixture that is rendered and installed once per combination on
the worker that runs the combination (``--dist loadgroup`` keeps one
combination's tests together); uv's cache is shared by all of them.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from .databases import DatabaseUnavailable, scratch_database, server_url
from .generated import Project, render, snapshot_template
from .matrix import combination_id, combinations, default_answers

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git snapshot of the working tree, as Copier will render it."""
    return snapshot_template(tmp_path_factory.mktemp("template"))


# Questions that choose how a service is served, not what its code and tests
# are (see SERVING_ONLY in generated.py). Combinations that differ only in
# them run on one xdist worker, where they share one install and one run of
# the service's own tests. Scheduling only: each still renders, lints and
# boots on its own.
SERVING_QUESTIONS = frozenset({"http", "docker"})


def worker_group(answers: dict[str, Any]) -> str:
    """The xdist group of a combination: its answers but the serving ones."""
    return combination_id(
        {k: v for k, v in answers.items() if k not in SERVING_QUESTIONS}
    )


def matrix_params(
    where: Callable[[dict[str, Any]], bool] = lambda answers: True,
    *,
    vary: frozenset[str] = frozenset(),
) -> list[Any]:
    """One pytest param per combination (those *where* accepts), grouped for
    xdist so each is rendered and installed on one worker.

    Feature tests run with the default serving answers (their code is the
    same under each); the serving questions in *vary* take every answer, for
    the tests of serving itself and the full-matrix checks.
    """
    defaults = default_answers()

    def serving_ok(answers: dict[str, Any]) -> bool:
        return all(
            answers.get(name) == defaults.get(name) for name in SERVING_QUESTIONS - vary
        )

    return [
        pytest.param(
            answers,
            id=combination_id(answers),
            marks=pytest.mark.xdist_group(worker_group(answers)),
        )
        for answers in combinations()
        if where(answers) and serving_ok(answers)
    ]


class ProjectFactory:
    """Render and install projects, each set of answers once per worker."""

    def __init__(self, template: Path, root: Path) -> None:
        self.template = template
        self.root = root
        self.renderings: dict[str, Project] = {}
        self.installs: dict[str, Project] = {}  # by dependency fingerprint
        self.installed_for: dict[str, Project] = {}  # by combination id
        self.own_test_runs: dict[str, str] = {}  # summary by runtime fingerprint
        self.type_checks: dict[str, str] = {}  # summary by source fingerprint

    def rendered(self, answers: dict[str, Any], name: str | None = None) -> Project:
        """A project rendered with *answers* (not installed)."""
        slug = re.sub(r"[^A-Za-z0-9.]+", "_", name or combination_id(answers))
        dest = Path(tempfile.mkdtemp(prefix=f"{slug}-", dir=self.root)) / "service"
        return Project(render(self.template, dest, answers), answers)

    def rendering(self, answers: dict[str, Any]) -> Project:
        """The project rendered with *answers*, once per worker."""
        key = combination_id(answers)
        if key not in self.renderings:
            self.renderings[key] = self.rendered(answers)
        return self.renderings[key]

    def installed(self, answers: dict[str, Any]) -> Project:
        """A synced project that runs exactly as one rendered with *answers*.

        Combinations with the same declared dependencies share one virtual
        environment; each runs its own code in its own directory (see
        ``Project.run_env``).
        """
        key = combination_id(answers)
        if key not in self.installed_for:
            project = self.rendering(answers)
            fingerprint = project.dependency_fingerprint()
            if fingerprint not in self.installs:
                project.sync()
                self.installs[fingerprint] = project
            project.install = self.installs[fingerprint]
            self.installed_for[key] = project
        return self.installed_for[key]

    def own_tests(self, project: Project, env: dict[str, str]) -> str:
        """The summary of *project*'s own tests, run once per distinct code
        and dependencies (``runtime_fingerprint``)."""
        assert project.install is not None, "own tests need an installed project"
        fingerprint = project.runtime_fingerprint()
        if fingerprint not in self.own_test_runs:
            self.own_test_runs[fingerprint] = project.own_tests(env)
        return self.own_test_runs[fingerprint]


    def type_check(self, project: Project) -> str:
        """The summary of *project*'s type check, run once per distinct
        Python code (``source_fingerprint``), with one mypy cache per worker."""
        assert project.install is not None, "mypy needs an installed project"
        fingerprint = project.source_fingerprint()
        if fingerprint not in self.type_checks:
            cache = self.root / "mypy-cache"
            self.type_checks[fingerprint] = project.type_check(cache)
        return self.type_checks[fingerprint]


@pytest.fixture(scope="session")
def projects(
    template: Path, tmp_path_factory: pytest.TempPathFactory
) -> ProjectFactory:
    """The per-worker project factory."""
    return ProjectFactory(template, tmp_path_factory.mktemp("projects"))


@pytest.fixture(scope="session", params=matrix_params(vary=SERVING_QUESTIONS))
def rendering(request: pytest.FixtureRequest, projects: ProjectFactory) -> Project:
    """The service rendered for one combination of the matrix."""
    return projects.rendering(request.param)


@pytest.fixture(scope="session", params=matrix_params(vary=SERVING_QUESTIONS))
def project(request: pytest.FixtureRequest, projects: ProjectFactory) -> Project:
    """An installed service that runs as one combination of the matrix."""
    return projects.installed(request.param)


@pytest.fixture(scope="session")
def default_project(projects: ProjectFactory) -> Project:
    """The service rendered with every default answer, installed."""
    return projects.installed(default_answers())


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
def redis_available(in_ci: bool) -> None:
    """Redis for the broker tests (``TEST_REDIS_URL``, default on loopback)."""
    service_available(REDIS_URL, "Redis", in_ci)


class Databases:
    """Databases of a test's own for the services it boots, dropped after it."""

    def __init__(self, stack: contextlib.ExitStack, directory: Path, in_ci: bool):
        self.stack = stack
        self.directory = directory
        self.in_ci = in_ci

    def env(self, answers: dict[str, Any]) -> dict[str, str]:
        """State of its own for a service with *answers*: ``DATABASE_URL`` of
        a fresh database, and a Redis key prefix no other service uses."""
        env = {}
        if answers.get("broker") == "redis":
            env["REDIS_PREFIX"] = f"template-test-{uuid.uuid4().hex}:"
        kind = answers.get("database", "none")
        if kind == "none":
            return env
        try:
            url = self.stack.enter_context(scratch_database(kind, self.directory))
        except DatabaseUnavailable as error:
            missing(str(error), self.in_ci)
        return {**env, "DATABASE_URL": url}


@pytest.fixture
def databases(tmp_path: Path, in_ci: bool) -> Iterator[Databases]:
    """Make databases for the test's services; drop them when it ends."""
    with contextlib.ExitStack() as stack:
        yield Databases(stack, tmp_path, in_ci)


def own_test_env(answers: dict[str, Any]) -> dict[str, str]:
    """Environment for a service's own tests: the servers they may need."""
    kind = answers.get("database", "none")
    env = {"TEST_REDIS_URL": REDIS_URL}
    if kind in {"postgresql", "mysql"}:
        env["TEST_DATABASE_URL"] = server_url(kind)
    return env


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Refuse to run when xdist's ``loadgroup`` would not keep groups together.

    xdist marks a grouped test by appending ``@<group>`` to its node id; with
    a pytest that ignores that (pytest 9.2 with xdist 3.8), every combination
    is silently rendered, installed and tested on both workers.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        if item.get_closest_marker("xdist_group") and "@" not in item.nodeid:
            raise pytest.UsageError(
                f"xdist loadgroup is not grouping {item.nodeid}: pytest and "
                "pytest-xdist do not agree (see the pytest pin in pyproject.toml)"
            )
