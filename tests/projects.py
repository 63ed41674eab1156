"""Projects for the matrix tests: which combinations a test runs on, and
each rendered, installed and checked once per xdist worker.

A test takes a combination as a pytest param from :func:`matrix_params`;
``--dist loadgroup`` keeps one combination's tests on one worker, where
:class:`ProjectFactory` renders and installs it once (uv's cache is shared
by all of them).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from .generated import INTERPRETER_QUESTION, SERVING_QUESTIONS, Project, render
from .matrix import (
    Combination,
    combination_id,
    combinations,
    covering_set,
    default_answers,
)


def worker_group(combination: Mapping[str, Any]) -> str:
    """The xdist group of a combination: its answers but the serving ones."""
    return combination_id(
        {k: v for k, v in combination.items() if k not in SERVING_QUESTIONS}
    )


def matrix_params(
    where: Callable[[Combination], bool] = lambda combination: True,
    *,
    vary: frozenset[str] = frozenset(),
    cover: int | None = None,
    every_python: bool = True,
    other_stacks_sampled: bool = False,
) -> list[Any]:
    """One pytest param per combination (those *where* accepts), grouped for
    xdist so each is rendered and installed on one worker.

    Feature tests run with the default serving answers (their code is the
    same under each); the serving questions in *vary* take every answer, for
    the tests of serving itself and the full-matrix checks. With *cover*
    (2 for the deep suites), only a covering set of those combinations runs:
    every pair (or single answer, with 1) of answers among them at least
    once (:func:`~tests.matrix.covering_set`). With ``every_python=False``
    (the checks that run a service on every combination), the default
    Python takes every combination and each other Python a
    covering set of its own (see ``OTHER_PYTHON_STRENGTH``). With
    ``other_stacks_sampled`` (the service's own tests), the default Python
    takes every combination of the default serving stack and a covering set
    of each other (see ``FULL_OWN_TESTS``).
    """
    defaults = default_answers()

    def serving_ok(combination: Combination) -> bool:
        return all(
            combination.get(name) == defaults.get(name)
            for name in SERVING_QUESTIONS - vary
        )

    chosen = [c for c in combinations() if where(c) and serving_ok(c)]
    if cover is not None:
        chosen = covering_set(chosen, strength=cover)
    if not every_python:
        chosen = on_every_python(chosen, defaults[INTERPRETER_QUESTION])
    if other_stacks_sampled:
        chosen = sample_other_stacks(chosen, defaults[INTERPRETER_QUESTION])
    return [
        pytest.param(
            combination,
            id=combination.id,
            marks=pytest.mark.xdist_group(worker_group(combination)),
        )
        for combination in chosen
    ]


# How much of the matrix each Python but the default runs services on: every
# single answer with it. An interpreter meets the code through the packages
# it installs and runs, each brought by one answer (asyncpg by postgresql,
# Granian by granian, aioquic by h3, redis by redis, ...), so every package
# meets every interpreter; the interplay of answers is the default Python's
# to test, where every combination runs.
OTHER_PYTHON_STRENGTH = 1


# The serving stack whose own tests run in every combination of the default
# Python: the default server with the HTTP answers that add no code to it.
# Every other stack adds serving modules of its own (HTTP/3's QUIC module,
# Granian's ASGI layer and server) which depend on no store, broker or
# endpoint: its own tests (the same tests of the same app, plus its own
# test_server.py) run on a covering set of the other answers, each answer at
# least once, while it still renders, lints, type-checks and boots in every
# combination (test_protocols: every protocol, with the store, the broker
# and the endpoints of each).
FULL_OWN_TESTS = {"server": ("hypercorn",), "http": ("h1", "h2")}


def sample_other_stacks(
    chosen: list[Combination], default_python: str
) -> list[Combination]:
    """*chosen*, but on the default Python a stack other than
    ``FULL_OWN_TESTS`` keeps only a covering set of its combinations (every
    single answer), in *chosen*'s order."""
    kept: set[str] = set()
    stacks: dict[tuple[Any, ...], list[Combination]] = {}
    for combination in chosen:
        if combination[INTERPRETER_QUESTION] != default_python or all(
            combination.get(name) in answers for name, answers in FULL_OWN_TESTS.items()
        ):
            kept.add(combination.id)
        else:
            stack = tuple(combination.get(name) for name in FULL_OWN_TESTS)
            stacks.setdefault(stack, []).append(combination)
    for group in stacks.values():
        kept |= {c.id for c in covering_set(group, strength=1)}
    return [c for c in chosen if c.id in kept]


def on_every_python(
    chosen: list[Combination], default_python: str
) -> list[Combination]:
    """*chosen* on the default Python; on each other Python, a covering set
    of *chosen*'s combinations there (``OTHER_PYTHON_STRENGTH``), in
    *chosen*'s order."""
    kept = {c.id for c in chosen if c[INTERPRETER_QUESTION] == default_python}
    for python in {c[INTERPRETER_QUESTION] for c in chosen} - {default_python}:
        there = [c for c in chosen if c[INTERPRETER_QUESTION] == python]
        kept |= {c.id for c in covering_set(there, strength=OTHER_PYTHON_STRENGTH)}
    return [c for c in chosen if c.id in kept]


class ProjectFactory:
    """Render and install projects, each set of answers once per worker."""

    def __init__(self, template: Path, root: Path, shared: Path | None = None) -> None:
        self.template = template
        self.root = root
        # Where the workers of one run leave what they may share (mypy caches).
        self.shared = shared or root
        self.renderings: dict[str, Project] = {}
        self.installs: dict[str, Project] = {}  # by dependency fingerprint
        self.installed_for: dict[str, Project] = {}  # by combination id
        self.own_test_runs: dict[str, str] = {}  # summary by runtime fingerprint
        self.type_checks: dict[str, str] = {}  # summary by source fingerprint
        self.linted: set[str] = set()  # lint fingerprints that passed
        self._certificate: dict[str, str] | None = None

    def rendered(
        self, combination: Mapping[str, Any], name: str | None = None
    ) -> Project:
        """A project rendered with *combination* (not installed)."""
        slug = re.sub(r"[^A-Za-z0-9.]+", "_", name or combination_id(combination))
        dest = Path(tempfile.mkdtemp(prefix=f"{slug}-", dir=self.root)) / "service"
        return Project(render(self.template, dest, combination), combination)

    def rendering(self, combination: Mapping[str, Any]) -> Project:
        """The project rendered with *combination*, once per worker."""
        key = combination_id(combination)
        if key not in self.renderings:
            self.renderings[key] = self.rendered(combination)
        return self.renderings[key]

    def installed(self, combination: Mapping[str, Any]) -> Project:
        """A synced project that runs exactly as one rendered with *combination*.

        Combinations with the same declared dependencies share one virtual
        environment; each runs its own code in its own directory (see
        ``Project.run_env``).
        """
        key = combination_id(combination)
        if key not in self.installed_for:
            project = self.rendering(combination)
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

    def certificate(self, project: Project) -> dict[str, str]:
        """A development certificate (``Project.make_certificate``'s settings),
        made once per worker by the README's command in the first *project*
        that asks: the boots that follow use the same files (the command
        itself is tested in every server's project by test_protocols)."""
        if self._certificate is None:
            self._certificate = project.make_certificate()
        return dict(self._certificate)

    def lint(self, project: Project) -> None:
        """Lint *project* with its pinned ruff, once per distinct set of files
        ruff reads (``lint_fingerprint``): the same files lint alike."""
        fingerprint = project.lint_fingerprint()
        if fingerprint not in self.linted:
            project.lint()
            self.linted.add(fingerprint)

    def type_check(self, project: Project) -> str:
        """The summary of *project*'s type check, run once per distinct
        Python code (``source_fingerprint``) and Python version (mypy checks
        against the Python it runs on), with one mypy cache per worker and
        set of mypy settings (``Project.mypy_settings``)."""
        assert project.install is not None, "mypy needs an installed project"
        python = project.combination[INTERPRETER_QUESTION]
        fingerprint = f"{project.source_fingerprint()}-{python}"
        if fingerprint not in self.type_checks:
            name = f"mypy-cache-{project.mypy_settings()}"
            cache, seed = self.root / name, self.shared / name / python
            if not (cache / python).exists() and seed.exists():
                shutil.copytree(seed, cache / python)
            self.type_checks[fingerprint] = project.type_check(cache)
            if not seed.exists():
                share_copy(cache / python, seed)
        return self.type_checks[fingerprint]


def share_copy(source: Path, target: Path) -> None:
    """Copy the directory *source* to *target* for the other workers, unless
    one of them got there first: it appears whole or not at all.

    A mypy cache is seeded this way: the first check on a worker for a Python
    and set of settings starts from another worker's cache (its SQLite files,
    copied while no mypy uses them) instead of checking every dependency
    again (about 20 s). mypy rechecks each module whose source differs, as
    it does between services on one worker.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent))
    try:
        shutil.copytree(source, staging / "copy")
        with contextlib.suppress(OSError):  # another worker's copy is there
            (staging / "copy").rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
