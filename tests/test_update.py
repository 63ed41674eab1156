"""`copier update` on services with their owners' edits, hermetically.

A throwaway template repository is built from the working tree with release
tags, so nothing depends on this repository's history (a shallow clone has
none) or on the network:

* ``v0.0.1``: the current tree minus one realistic change (the service did
  not yet send ``Referrer-Policy``);
* ``v0.1.0``: the current tree;
* ``v0.2.0``: the default SQLite file moves into ``instance/db/``, with a
  ``_migrations`` entry that moves an existing database there;
* ``v0.3.0``: a new file (``CONTRIBUTING.md``) and an executable bit
  (``__main__.py``), two of Copier's own hard cases.

Services are copied at an older tag, committed, edited the way owners edit
them, and updated with the ``copier`` command line.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .checks import check_serves_real_clients
from .generated import TEMPLATE_ROOT, Project, copy_working_tree, edit, run
from .matrix import Combination, combinations, default_answers, load_questions
from .services import Databases, own_test_env

pytestmark = pytest.mark.slow

TOOLS = Path(sys.executable).parent
CONFLICT_MARKER = re.compile(r"^(<<<<<<< |=======$|>>>>>>> )", re.MULTILINE)
HOOKS = "src/{{package_name}}/hooks.py.jinja"
REFERRER = '    "Referrer-Policy": "strict-origin-when-cross-origin",\n'
SQLITE_FILE = '/ f"{__package__}.sqlite3"'
CONTRIBUTING = "# Contributing\n\nRun `uv run pytest` before you push.\n"
EXECUTABLE = stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
MIGRATION = {
    "version": "v0.2.0",
    "command": [
        "{{ _copier_python }}",
        "{{ _copier_conf.src_path }}/migrations/move_file.py",
        "instance/{{ package_name }}.sqlite3",
        "instance/db/{{ package_name }}.sqlite3",
        "-wal",
        "-shm",
    ],
}


def commit(repo: Path, message: str, tag: str | None = None) -> None:
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "--allow-empty", "-m", message], repo)
    if tag:
        run(["git", "tag", tag], repo)


@pytest.fixture(scope="session")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template with the tags v0.0.1, v0.1.0 and v0.2.0."""
    repo = copy_working_tree(tmp_path_factory.mktemp("releases"))
    run(["git", "init", "-q", "-b", "main"], repo)
    hooks = repo / "template" / HOOKS
    edit(hooks, REFERRER, "")
    commit(repo, "0.0.1", "v0.0.1")
    edit(
        hooks,
        '    "X-Frame-Options": "DENY",\n',
        '    "X-Frame-Options": "DENY",\n' + REFERRER,
    )
    commit(repo, "0.1.0: send Referrer-Policy", "v0.1.0")
    config = repo / "template" / "src" / "{{package_name}}" / "config.py.jinja"
    edit(config, SQLITE_FILE, '/ "db" ' + SQLITE_FILE)
    copier_yml = repo / "copier.yml"
    data = copier_yml.read_text()
    assert "_migrations: []" in data
    copier_yml.write_text(
        data.replace("_migrations: []", "_migrations:\n" + yaml.safe_dump([MIGRATION]))
    )
    commit(repo, "0.2.0: the SQLite file moves to instance/db/", "v0.2.0")
    (repo / "template" / "CONTRIBUTING.md").write_text(CONTRIBUTING)
    main = repo / "template" / "src" / "{{package_name}}" / "__main__.py"
    main.chmod(main.stat().st_mode | EXECUTABLE)
    commit(repo, "0.3.0: CONTRIBUTING.md; __main__.py is executable", "v0.3.0")
    return repo


def copier(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run([str(TOOLS / "copier"), *args], cwd, timeout=300)


def copy_at(releases: Path, dest: Path, answers: Combination, tag: str) -> Project:
    data = [
        f"--data={k}={str(v).lower() if isinstance(v, bool) else v}"
        for k, v in answers.items()
    ]
    copier(
        "copy", "--trust", "--defaults", "--quiet", f"--vcs-ref={tag}", *data,
        str(releases), str(dest), cwd=dest.parent,
    )  # fmt: skip
    run(["git", "init", "-q", "-b", "main"], dest)
    commit(dest, "generated")
    return Project(dest, answers)


def update(project: Project, tag: str, *data: str) -> str:
    result = copier(
        "update", "--trust", "--defaults", "--quiet", "--conflict=inline",
        f"--vcs-ref={tag}", *data, cwd=project.path,
    )  # fmt: skip
    return result.stdout + result.stderr


def recorded_commit(project: Project) -> str:
    return yaml.safe_load((project.path / ".copier-answers.yml").read_text())["_commit"]


def passes_and_boots(project: Project, databases: Databases) -> None:
    """Lint, its own tests with its own dependencies, and a boot."""
    project.sync()
    project.lint()
    summary = project.own_tests(own_test_env(project.combination))
    assert " passed" in summary, summary
    assert "failed" not in summary, summary
    check_serves_real_clients(project, databases.env(project.combination))


SPREAD = [
    pytest.param(answers, id=answers.id)
    for answers in (
        default_answers(),
        default_answers().but(
            python_version="3.13",
            websockets=False,
            broker="redis",
            database="postgresql",
            http="h3",
        ),
    )
]

EXTRA_ROUTE = '''\
"""A route the service's owner added."""

from quart import Blueprint

bp = Blueprint("extra", __name__)


@bp.get("/api/ping")
async def ping() -> dict[str, str]:
    """Answer a ping."""
    return {"pong": "yes"}
'''


@pytest.mark.parametrize("answers", SPREAD)
def test_update_brings_the_change_and_keeps_every_edit(
    answers: Combination, releases: Path, tmp_path: Path, databases: Databases
) -> None:
    project = copy_at(releases, tmp_path / "service", answers, "v0.0.1")
    package = project.path / "src" / project.package
    assert "Referrer-Policy" not in (package / "hooks.py").read_text()

    # The owner's edits: a route in a new file, a line in a generated file,
    # a changed setting.
    (package / "extra.py").write_text(EXTRA_ROUTE)
    edit(
        package / "__init__.py",
        "    app.register_blueprint(messages.bp)\n",
        "    app.register_blueprint(messages.bp)\n"
        "    app.register_blueprint(extra.bp)\n",
    )
    init = (package / "__init__.py").read_text()
    found = re.search(r"^from \. import \(\n(?:    \w+,\n)+\)\n", init, re.MULTILINE)
    assert found, "the factory's module imports"
    imports = found.group(0)
    modules = sorted([*re.findall(r"^    (\w+),$", imports, re.MULTILINE), "extra"])
    edit(
        package / "__init__.py",
        imports,
        "from . import (\n" + "".join(f"    {m},\n" for m in modules) + ")\n",
    )
    edit(
        project.path / "hypercorn.toml",
        "keep_alive_timeout = 5",
        "keep_alive_timeout = 10",
    )
    commit(project.path, "my edits")

    update(project, "v0.1.0")

    assert recorded_commit(project) == "v0.1.0"
    assert REFERRER in (package / "hooks.py").read_text(), (
        "the template change is missing"
    )
    assert (package / "extra.py").read_text() == EXTRA_ROUTE
    init = (package / "__init__.py").read_text()
    assert "app.register_blueprint(extra.bp)" in init
    assert "keep_alive_timeout = 10" in (project.path / "hypercorn.toml").read_text()
    for path in project.files():
        text = path.read_text(errors="replace")
        assert not CONFLICT_MARKER.search(text), f"conflict markers in {path}"
        assert not path.name.endswith(".rej"), path

    passes_and_boots(project, databases)
    with (
        project.serve(databases.env(project.combination)) as service,
        service.client() as http,
    ):
        response = http.get("/api/ping")
        assert response.json() == {"pong": "yes"}
        assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_a_conflicting_edit_leaves_markers_the_hook_refuses(
    releases: Path, tmp_path: Path
) -> None:
    project = copy_at(releases, tmp_path / "service", default_answers(), "v0.0.1")
    hooks = project.path / "src" / project.package / "hooks.py"
    edit(hooks, '"X-Frame-Options": "DENY"', '"X-Frame-Options": "SAMEORIGIN"')
    commit(project.path, "my edit, on the line the template changes next to")

    update(project, "v0.1.0")

    text = hooks.read_text()
    assert re.search(r"^<<<<<<< ", text, re.MULTILINE), text
    assert re.search(r"^=======$", text, re.MULTILINE)
    assert re.search(r"^>>>>>>> ", text, re.MULTILINE)
    assert '"X-Frame-Options": "SAMEORIGIN"' in text, "the owner's edit was lost"
    assert "Referrer-Policy" in text, "the template's change was lost"

    config = yaml.safe_load((project.path / ".pre-commit-config.yaml").read_text())
    hooks_used = {h["id"]: h for repo in config["repos"] for h in repo["hooks"]}
    assert "--assume-in-merge" in hooks_used["check-merge-conflict"]["args"]
    check = subprocess.run(
        [sys.executable, "-m", "pre_commit_hooks.check_merge_conflict",
         "--assume-in-merge", str(hooks)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert check.returncode == 1
    assert "Merge conflict string" in check.stdout


def flips() -> Iterator[Any]:
    """Each bool and choice of copier.yml flipped away from its default: a
    choice to its first other answer, and ``database`` also to the first
    database server (no database and a server each change different files)."""
    defaults = default_answers()
    for name, spec in load_questions().items():
        if name not in defaults or spec.get("when") is False:
            continue
        values = [a[name] for a in combinations() if name in a]
        others = [v for v in dict.fromkeys(values) if v != defaults[name]]
        for value in others[:2] if name == "database" else others[:1]:
            yield pytest.param(name, value, id=f"{name}={value}")


@pytest.mark.parametrize(("name", "value"), list(flips()))
def test_flipping_an_answer_adds_and_removes_the_right_files(
    name: str, value: Any, releases: Path, tmp_path: Path
) -> None:
    answers = default_answers()
    project = copy_at(releases, tmp_path / "service", answers, "v0.1.0")
    flag = str(value).lower() if isinstance(value, bool) else value
    update(project, "v0.1.0", f"--data={name}={flag}")
    flipped = answers.but(**{name: value})
    project.combination = flipped

    fresh = copy_at(releases, tmp_path / "fresh", flipped, "v0.1.0")
    relative = {p.relative_to(project.path) for p in project.files()}
    expected = {p.relative_to(fresh.path) for p in fresh.files()}
    assert relative == expected, relative ^ expected
    for path in expected:
        assert (project.path / path).read_bytes() == (fresh.path / path).read_bytes(), (
            path
        )
    # Byte for byte a fresh copy of the flipped answers at v0.1.0 (the working
    # tree): the combination tests lint it, run its own tests and boot it.
    assert flipped in combinations(), f"{flipped} is not in the tested matrix"


def test_a_migration_runs_once_across_its_version_not_on_copy(
    releases: Path, tmp_path: Path
) -> None:
    answers = default_answers().but(database="sqlite")
    project = copy_at(releases, tmp_path / "service", answers, "v0.1.0")
    instance = project.path / "instance"
    instance.mkdir()
    database = instance / f"{project.package}.sqlite3"
    database.write_bytes(b"the owner's data")
    (instance / f"{project.package}.sqlite3-wal").write_bytes(b"wal")

    output = update(project, "v0.2.0")
    assert "moved to instance/db/" in output
    moved = instance / "db" / f"{project.package}.sqlite3"
    assert moved.read_bytes() == b"the owner's data"
    assert (instance / "db" / f"{project.package}.sqlite3-wal").read_bytes() == b"wal"
    assert not database.exists()
    assert recorded_commit(project) == "v0.2.0"

    # Idempotent: run again, it changes nothing and says so.
    again = subprocess.run(
        [sys.executable, str(releases / "migrations" / "move_file.py"),
         str(database.relative_to(project.path)), str(moved.relative_to(project.path))],
        cwd=project.path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "nothing to move" in again.stdout
    assert moved.read_bytes() == b"the owner's data"

    # Not on copy: a new service at v0.2.0 has no instance/ at all.
    fresh = copy_at(releases, tmp_path / "fresh", answers, "v0.2.0")
    assert not (fresh.path / "instance").exists()


def test_a_file_the_owner_deleted_stays_deleted(releases: Path, tmp_path: Path) -> None:
    project = copy_at(releases, tmp_path / "service", default_answers(), "v0.0.1")
    (project.path / "compose.yaml").unlink()
    commit(project.path, "we deploy without compose")

    update(project, "v0.1.0")

    assert not (project.path / "compose.yaml").exists()
    hooks = project.path / "src" / project.package / "hooks.py"
    assert REFERRER in hooks.read_text(), "the template change is missing"


def test_skipping_releases_brings_every_change_between(
    releases: Path, tmp_path: Path
) -> None:
    """From the oldest release straight to v0.3.0: each release's change
    arrives, the v0.2.0 migration runs, and the owner's edit survives."""
    answers = default_answers().but(database="sqlite")
    project = copy_at(releases, tmp_path / "service", answers, "v0.0.1")
    toml = project.path / "hypercorn.toml"
    edit(toml, "keep_alive_timeout = 5", "keep_alive_timeout = 10")
    (project.path / "instance").mkdir()
    database = project.path / "instance" / f"{project.package}.sqlite3"
    database.write_bytes(b"the owner's data")
    commit(project.path, "my edit")

    output = update(project, "v0.3.0")

    assert recorded_commit(project) == "v0.3.0"
    package = project.path / "src" / project.package
    assert REFERRER in (package / "hooks.py").read_text()
    assert "moved to instance/db/" in output
    moved = project.path / "instance" / "db" / database.name
    assert moved.read_bytes() == b"the owner's data"
    assert (project.path / "CONTRIBUTING.md").read_text() == CONTRIBUTING
    assert "keep_alive_timeout = 10" in toml.read_text()


def test_a_file_the_template_adds_that_the_owner_made_keeps_both(
    releases: Path, tmp_path: Path
) -> None:
    """The owner's own CONTRIBUTING.md meets the template's new one: nothing
    of the owner's is lost, and the clash is marked for the hook to refuse."""
    project = copy_at(releases, tmp_path / "service", default_answers(), "v0.2.0")
    mine = "# How we work\n\nAsk Dana before merging.\n"
    (project.path / "CONTRIBUTING.md").write_text(mine)
    commit(project.path, "our contributing guide")

    update(project, "v0.3.0")

    text = (project.path / "CONTRIBUTING.md").read_text()
    assert "Ask Dana before merging." in text, "the owner's file was lost"
    assert "Run `uv run pytest` before you push." in text
    assert CONFLICT_MARKER.search(text), text


def test_an_executable_bit_the_template_sets_arrives(
    releases: Path, tmp_path: Path
) -> None:
    project = copy_at(releases, tmp_path / "service", default_answers(), "v0.2.0")
    main = project.path / "src" / project.package / "__main__.py"
    assert not main.stat().st_mode & stat.S_IXUSR

    update(project, "v0.3.0")

    assert main.stat().st_mode & stat.S_IXUSR


def test_check_update_sees_a_newer_release(releases: Path, tmp_path: Path) -> None:
    """What the generated ``template-update`` workflow asks, weekly."""
    workflow = yaml.safe_load(
        (TEMPLATE_ROOT / "template/.github/workflows/template-update.yml").read_text()
    )
    steps = workflow["jobs"]["check-update"]["steps"]
    assert any(
        "copier check-update --output-format json" in s.get("run", "") for s in steps
    )
    behind = copy_at(releases, tmp_path / "behind", default_answers(), "v0.1.0")
    current = copy_at(releases, tmp_path / "current", default_answers(), "v0.3.0")
    reports = [
        json.loads(copier("check-update", "--output-format", "json", cwd=p.path).stdout)
        for p in (behind, current)
    ]
    assert reports == [
        {
            "update_available": True,
            "current_version": "0.1.0",
            "latest_version": "0.3.0",
        },
        {
            "update_available": False,
            "current_version": "0.3.0",
            "latest_version": "0.3.0",
        },
    ]
