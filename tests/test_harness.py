"""The harness itself: breaking any single rendered file makes it fail.

Each case renders the default service, breaks one file the way a bad template
change would, and shows that the matrix checks notice.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .checks import check_serves_real_clients
from .generated import SERVING_QUESTIONS, CommandFailed, Project, edit, run
from .leftovers import FEATURES, leftover_mentions
from .matrix import combinations, default_answers
from .projects import ProjectFactory

pytestmark = pytest.mark.slow


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


# Each leftover a review found, put back where it was: the check must see it.
REINTRODUCED = [
    ({"database": "postgresql"}, "src/{package}/tables.py", "SQLite and MySQL keep"),
    ({"sse": False}, "src/{package}/schemas.py", "(see ``sse.format_event``)"),
    (
        {"websockets": False, "sse": False},
        "src/{package}/lifecycle.py",
        "def add_drain_callback",
    ),
    ({"http": "h2"}, "src/{package}/server.py", '"quic_bind": "HOST and TLS_PORT"'),
    ({"http": "h2"}, "hypercorn.toml", "# bind, insecure_bind and quic_bind"),
    ({"database": "none"}, "README.md", "(the database file and certificates)"),
    ({"websockets": False}, "src/{package}/broker.py", "WebSocket clients"),
    ({"http": "h3", "sse": False}, "src/{package}/http3.py", "an event stream"),
]


@pytest.mark.parametrize(
    ("answers", "file", "text"),
    REINTRODUCED,
    ids=[f"{f.rpartition('/')[2]}-{t}" for _, f, t in REINTRODUCED],
)
def test_a_leftover_mention_fails_the_check(
    projects: ProjectFactory, answers: dict[str, object], file: str, text: str
) -> None:
    project = projects.rendered(default_answers().but(**answers))
    assert leftover_mentions(project) == []
    path = project.path / file.format(package=project.package)
    path.write_text(path.read_text() + f"\n# {text}\n")
    problems = leftover_mentions(project)
    assert problems, f"{text!r} in {file} went unnoticed"
    assert all(p.startswith(file.format(package=project.package)) for p in problems)


def test_every_feature_has_words_a_rendering_without_it_lacks() -> None:
    """Each feature of the table can be left out by some answers: otherwise
    its words would never be looked for."""
    for feature in FEATURES:
        assert any(not feature.enabled(a) for a in combinations()), feature.name
        assert feature.words, feature.name


def test_serving_answers_change_only_serving_files(projects: ProjectFactory) -> None:
    """A serving answer that adds no code (h1 or h2, docker or not) must
    change only NOT_RUNTIME and SERVING_ONLY files, so those combinations share
    one run of their own tests; one that adds code (h3) runs its own."""
    defaults = default_answers()
    default = projects.rendering(defaults)
    shared = 0
    for name in sorted(SERVING_QUESTIONS):
        for value in {c[name] for c in combinations() if name in c} - {defaults[name]}:
            flipped = projects.rendering(defaults.but(**{name: value}))
            if flipped.source_fingerprint() != default.source_fingerprint():
                continue
            shared += 1
            assert flipped.runtime_fingerprint() == default.runtime_fingerprint(), (
                f"{name}={value} changes a file its own tests may read: list it "
                "in NOT_RUNTIME or SERVING_ONLY (generated.py)"
            )
    assert shared >= 2, "no serving answer left the code as it was"


def test_lint_fingerprint_follows_what_ruff_reads(projects: ProjectFactory) -> None:
    """Linting runs once per distinct set of files ruff reads: a Docker answer
    leaves that set as it was, an edit to a Python file or to the ruff settings
    changes it (and the edit that breaks the format still fails)."""
    defaults = default_answers()
    default = projects.rendered(defaults)
    without_docker = projects.rendering(defaults.but(docker=not defaults.docker))
    assert without_docker.lint_fingerprint() == default.lint_fingerprint()
    before = default.lint_fingerprint()
    edit(default.path / "pyproject.toml", "line-length = 88", "line-length = 100")
    assert default.lint_fingerprint() != before
    edit(default.path / "pyproject.toml", "line-length = 100", "line-length = 88")
    assert default.lint_fingerprint() == before
    init = default.path / "src" / default.package / "__init__.py"
    init.write_text(init.read_text() + "x=1\n")
    assert default.lint_fingerprint() != before
    with pytest.raises(CommandFailed):
        projects.lint(default)


@pytest.mark.parametrize(
    "answers",
    [{}, {"database": "postgresql", "http": "h3", "docker": False}],
    ids=["defaults", "postgresql-h3"],
)
def test_renders_byte_for_byte_as_copier_alone(
    projects: ProjectFactory, tmp_path: Path, answers: dict[str, object]
) -> None:
    """The suite's renders (Copier with jinja_cache and copier_cache) equal
    what the copier command, in a process of its own, renders."""
    combination = default_answers().but(**answers)
    ours = projects.rendered(combination)
    data = [
        f"--data={k}={str(v).lower() if isinstance(v, bool) else v}"
        for k, v in combination.items()
    ]
    copier = str(Path(sys.executable).parent / "copier")
    theirs = tmp_path / "service"
    copy = [copier, "copy", "--trust", "--defaults", "--quiet", "--vcs-ref=HEAD"]
    run([*copy, *data, str(projects.template), str(theirs)], tmp_path)
    ours_files = {p.relative_to(ours.path): p.read_bytes() for p in ours.files()}
    theirs_files = {
        p.relative_to(theirs): p.read_bytes() for p in Project(theirs).files()
    }
    assert ours_files.keys() == theirs_files.keys()
    assert [f for f in ours_files if ours_files[f] != theirs_files[f]] == []
