"""Fixtures shared by the template tests.

Each xdist worker snapshots the template once. The matrix tests take a
``project`` fixture that is rendered and installed once per combination on
the worker that runs the combination (``--dist loadgroup`` keeps one
combination's tests together); uv's cache is shared by all of them.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest

from .generated import Project, render, snapshot_template
from .matrix import combination_id, combinations, default_answers


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git snapshot of the working tree, as Copier will render it."""
    return snapshot_template(tmp_path_factory.mktemp("template"))


def matrix_params() -> list[Any]:
    """One pytest param per combination, grouped per combination for xdist."""
    return [
        pytest.param(
            answers,
            id=combination_id(answers),
            marks=pytest.mark.xdist_group(combination_id(answers)),
        )
        for answers in combinations()
    ]


class ProjectFactory:
    """Render and install projects, each set of answers once per worker."""

    def __init__(self, template: Path, root: Path) -> None:
        self.template = template
        self.root = root
        self.cache: dict[str, Project] = {}

    def rendered(self, answers: dict[str, Any], name: str | None = None) -> Project:
        """A project rendered with *answers* (not installed)."""
        slug = re.sub(r"[^A-Za-z0-9.]+", "_", name or combination_id(answers))
        dest = Path(tempfile.mkdtemp(prefix=f"{slug}-", dir=self.root)) / "service"
        return Project(render(self.template, dest, answers), answers)

    def installed(self, answers: dict[str, Any]) -> Project:
        """A project rendered with *answers* and synced, shared per worker."""
        key = combination_id(answers)
        if key not in self.cache:
            project = self.rendered(answers)
            project.sync()
            self.cache[key] = project
        return self.cache[key]


@pytest.fixture(scope="session")
def projects(
    template: Path, tmp_path_factory: pytest.TempPathFactory
) -> ProjectFactory:
    """The per-worker project factory."""
    return ProjectFactory(template, tmp_path_factory.mktemp("projects"))


@pytest.fixture(scope="session", params=matrix_params())
def project(request: pytest.FixtureRequest, projects: ProjectFactory) -> Project:
    """A rendered and installed service for one combination of the matrix."""
    return projects.installed(request.param)


@pytest.fixture(scope="session")
def default_project(projects: ProjectFactory) -> Project:
    """The service rendered with every default answer, installed."""
    return projects.installed(default_answers())


@pytest.fixture(scope="session")
def in_ci() -> bool:
    """Whether the suite runs in CI, where a missing service fails, not skips."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}
