"""Fixtures shared by the template tests (the helpers they use live in
plain modules: ``projects``, ``services``, ``generated``, ``matrix``).

Each xdist worker snapshots the template once. The matrix tests take a
``project`` fixture that is rendered and installed once per combination on
the worker that runs the combination (``--dist loadgroup`` keeps one
combination's tests together); uv's cache is shared by all of them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import services
from .generated import SERVING_QUESTIONS, Project, snapshot_template
from .matrix import default_answers
from .phases import PhaseTimes
from .projects import ProjectFactory, matrix_params
from .prometheus import Prometheus, running_prometheus
from .services import REDIS_URL, Databases


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git snapshot of the working tree, as Copier will render it."""
    return snapshot_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def projects(
    template: Path, tmp_path_factory: pytest.TempPathFactory
) -> ProjectFactory:
    """The per-worker project factory."""
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's base is a folder of the run's own.
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return ProjectFactory(
        template, tmp_path_factory.mktemp("projects"), shared / "shared"
    )


@pytest.fixture(scope="session", params=matrix_params(vary=SERVING_QUESTIONS))
def rendering(request: pytest.FixtureRequest, projects: ProjectFactory) -> Project:
    """The service rendered for one combination of the matrix."""
    return projects.rendering(request.param)


@pytest.fixture(
    scope="session",
    params=matrix_params(vary=SERVING_QUESTIONS, every_python=False),
)
def project(request: pytest.FixtureRequest, projects: ProjectFactory) -> Project:
    """An installed service that runs as one combination of the matrix (on a
    Python other than the default, as one of a covering set)."""
    return projects.installed(request.param)


@pytest.fixture(
    scope="session",
    params=matrix_params(
        vary=SERVING_QUESTIONS, every_python=False, other_stacks_sampled=True
    ),
)
def own_tested(request: pytest.FixtureRequest, projects: ProjectFactory) -> Project:
    """An installed service whose own tests run: ``project``'s combinations,
    with the serving stacks other than the default on a covering set
    (``projects.FULL_OWN_TESTS``)."""
    return projects.installed(request.param)


@pytest.fixture(scope="session")
def default_project(projects: ProjectFactory) -> Project:
    """The service rendered with every default answer, installed."""
    return projects.installed(default_answers())


@pytest.fixture(scope="session")
def in_ci() -> bool:
    """Whether the suite runs in CI, where a missing service fails, not skips."""
    return services.in_ci()


@pytest.fixture(scope="session")
def redis_available(in_ci: bool) -> None:
    """Redis for the broker tests (``TEST_REDIS_URL``, default on loopback)."""
    services.service_available(REDIS_URL, "Redis", in_ci)


@pytest.fixture(scope="session")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory, in_ci: bool
) -> Iterator[Prometheus]:
    """One Prometheus per worker, scraping the services its tests give it."""
    if shutil.which("prometheus") is None:
        services.missing("Debian's prometheus package is not installed", in_ci)
    with running_prometheus(tmp_path_factory.mktemp("prometheus")) as server:
        yield server


@pytest.fixture
def databases(tmp_path: Path, in_ci: bool) -> Iterator[Databases]:
    """Make databases for the test's services; drop them when it ends."""
    with contextlib.ExitStack() as stack:
        yield Databases(stack, tmp_path, in_ci)


def pytest_configure(config: pytest.Config) -> None:
    """Report the time per phase at the end (on xdist's controller only)."""
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(PhaseTimes(), "phase-times")


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
