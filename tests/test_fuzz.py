"""Property-based fuzzing of the booted default service against its own schema."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .generated import Project

pytestmark = pytest.mark.slow

# Bounded so the run stays within seconds; the seed makes a failure repeatable.
MAX_EXAMPLES = 40
SEED = 20261122


def test_schemathesis_finds_no_server_error_or_schema_violation(
    default_project: Project, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with default_project.serve() as service:
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
