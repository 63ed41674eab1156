"""Every combination of answers: it renders clean, lints, passes its own tests
and boots under Hypercorn, answering real HTTP clients over real sockets."""

from __future__ import annotations

import pytest

from .checks import check_serves_real_clients
from .conftest import Databases, own_test_env
from .generated import Project

pytestmark = pytest.mark.slow


def test_renders_without_template_leftovers(project: Project) -> None:
    assert project.leftover_jinja() == []
    answers = (project.path / ".copier-answers.yml").read_text()
    assert "_commit:" in answers
    assert "_src_path:" in answers
    for name, value in project.answers.items():
        assert f"{name}: " in answers, f"{name}={value} not recorded"


def test_lints_clean_with_its_own_ruff(project: Project) -> None:
    project.lint()


def test_its_own_tests_pass(project: Project) -> None:
    summary = project.own_tests(own_test_env(project.answers))
    assert " passed" in summary
    assert "failed" not in summary
    assert "error" not in summary


def test_boots_and_serves_real_clients(project: Project, databases: Databases) -> None:
    check_serves_real_clients(project, databases.env(project.answers))
