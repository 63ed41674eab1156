"""Every combination of answers: it renders clean, lints, passes its own tests
and boots under Hypercorn, answering real HTTP clients over real sockets."""

from __future__ import annotations

import pytest
import yaml

from .checks import check_serves_real_clients
from .conftest import Databases, ProjectFactory, own_test_env
from .generated import Project

pytestmark = pytest.mark.slow


def test_renders_without_template_leftovers(rendering: Project) -> None:
    assert rendering.leftover_jinja() == []
    answers = yaml.safe_load((rendering.path / ".copier-answers.yml").read_text())
    assert answers["_commit"]
    assert answers["_src_path"]
    for name, value in rendering.answers.items():
        assert answers[name] == value, f"{name}={value} not recorded"


def test_lints_clean_with_its_pinned_ruff(rendering: Project) -> None:
    rendering.lint()


def test_its_own_tests_pass(project: Project, projects: ProjectFactory) -> None:
    summary = projects.own_tests(project, own_test_env(project.answers))
    assert " passed" in summary
    assert "failed" not in summary
    assert "error" not in summary


def test_boots_and_serves_real_clients(
    project: Project, projects: ProjectFactory, databases: Databases
) -> None:
    # Combinations whose code is byte-identical (they differ only in Docker,
    # documentation or serving files) are booted once per worker here; every
    # hypercorn.toml is booted by its own combination in test_protocols.py.
    fingerprint = project.runtime_fingerprint()
    if fingerprint not in projects.boots:
        check_serves_real_clients(project, databases.env(project.answers))
        projects.boots.add(fingerprint)
