"""Every combination of answers renders clean and lints; on the default
Python every one, and on each other Python a covering set, type-checks
and passes its own tests (on the default Python, those of the serving stacks
other than the default on a covering set: ``projects.FULL_OWN_TESTS``). (They
boot under their server and answer real clients over every protocol they
enable in test_protocols.py.)"""

from __future__ import annotations

import pytest
import yaml

from .generated import Project
from .leftovers import leftover_mentions
from .projects import ProjectFactory
from .services import own_test_env

pytestmark = pytest.mark.slow


def test_renders_without_template_leftovers(rendering: Project) -> None:
    assert rendering.leftover_jinja() == []
    assert leftover_mentions(rendering) == []
    answers = yaml.safe_load((rendering.path / ".copier-answers.yml").read_text())
    assert answers["_commit"]
    assert answers["_src_path"]
    for name, value in rendering.combination.items():
        assert answers[name] == value, f"{name}={value} not recorded"


def test_lints_clean_with_its_pinned_ruff(
    rendering: Project, projects: ProjectFactory
) -> None:
    projects.lint(rendering)


def test_type_checks_clean_with_its_pinned_mypy(
    project: Project, projects: ProjectFactory
) -> None:
    assert projects.type_check(project).startswith("Success: no issues found")


def test_its_own_tests_pass(own_tested: Project, projects: ProjectFactory) -> None:
    summary = projects.own_tests(own_tested, own_test_env(own_tested.combination))
    assert " passed" in summary
    assert "failed" not in summary
    assert "error" not in summary
