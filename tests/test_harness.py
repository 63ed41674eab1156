"""The harness itself: breaking any single rendered file makes it fail.

Each case renders the default service, breaks one file the way a bad template
change would, and shows that the matrix checks notice.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from .checks import check_serves_real_clients
from .conftest import ProjectFactory
from .generated import CommandFailed, Project
from .matrix import default_answers

pytestmark = pytest.mark.slow


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def drop_dependency(project: Project) -> None:
    edit(project.path / "pyproject.toml", '    "quart-schema[pydantic]>=0.25",\n', "")


def syntax_error(project: Project) -> None:
    edit(
        project.path / "src" / project.package / "store.py",
        "    async def get(",
        "    async def get(:",
    )


def failing_route(project: Project) -> None:
    edit(
        project.path / "src" / project.package / "health.py",
        '    return Liveness(status="ok")',
        '    raise RuntimeError("a route that fails")',
    )


def leftover_jinja(project: Project) -> None:
    readme = project.path / "README.md"
    readme.write_text(readme.read_text() + "\n{{ project_name }}\n")


def all_checks(project: Project) -> None:
    problems = project.leftover_jinja()
    assert problems == [], problems
    project.sync()
    project.lint()
    project.own_tests()
    check_serves_real_clients(project, {})


@pytest.mark.parametrize(
    ("breakage", "symptom"),
    [
        (drop_dependency, r"No module named 'quart_schema'"),
        (syntax_error, r"invalid-syntax|SyntaxError|Expected"),
        (failing_route, r"[1-9]\d* failed"),
        (leftover_jinja, r"README.md: contains '\{\{'"),
    ],
    ids=["missing-dependency", "syntax-error", "failing-route", "leftover-jinja"],
)
def test_a_broken_file_fails_the_checks(
    projects: ProjectFactory,
    breakage: Callable[[Project], None],
    symptom: str,
) -> None:
    project = projects.rendered(default_answers(), name=f"broken-{breakage.__name__}")
    breakage(project)
    with pytest.raises((CommandFailed, AssertionError)) as caught:
        all_checks(project)
    assert re.search(symptom, str(caught.value)), str(caught.value)[-3000:]
