"""Property-based fuzzing of the booted default service against its own schema."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from .matrix import Combination, default_answers, load_questions
from .projects import ProjectFactory
from .services import Databases

pytestmark = pytest.mark.slow

# Bounded so the run stays within seconds; the seed makes a failure repeatable.
MAX_EXAMPLES = 40
SEED = 20261122


def one_per_database() -> list[Any]:
    """The default answers with each database: the fuzzed services."""
    defaults = default_answers()
    choices = load_questions()["database"]["choices"].values()
    return [
        pytest.param(
            defaults.but(database=database),
            id=f"database={database}",
            marks=pytest.mark.xdist_group(defaults.but(database=database).id),
        )
        for database in choices
    ]


@pytest.mark.parametrize("answers", one_per_database())
def test_schemathesis_finds_no_server_error_or_schema_violation(
    projects: ProjectFactory,
    answers: Combination,
    databases: Databases,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    project = projects.installed(answers)
    with project.serve(databases.env(answers)) as service:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                f"{service.base_url}/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                str(MAX_EXAMPLES),
                "--seed",
                str(SEED),
                "--generation-database",
                "none",
                "--request-timeout",
                "10",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            cwd=tmp_path_factory.mktemp("schemathesis"),
        )
        assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
        assert "No issues found" in result.stdout
        assert "Traceback" not in service.log()
