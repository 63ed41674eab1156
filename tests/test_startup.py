"""Start-up of the default service as an operator meets it: the README's
quick start serves it, bad configuration stops it with a clear message, and
production mode logs JSON lines."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from .generated import TEMPLATE_ROOT, Project, free_port, service_env

pytestmark = pytest.mark.slow


def test_bad_values_stop_start_up_naming_each_variable(
    default_project: Project,
) -> None:
    result = default_project.start_until_exit(PORT="eighty", LOG_LEVEL="chatty")
    assert result.returncode == 2
    assert result.stderr.startswith("error: invalid configuration:")
    assert "PORT: expected a whole number, got 'eighty'" in result.stderr
    assert "LOG_LEVEL: expected one of DEBUG, INFO" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_refuses_the_default_secret_key(default_project: Project) -> None:
    result = default_project.start_until_exit(APP_ENV="production")
    assert result.returncode == 2
    assert "SECRET_KEY: the development default is refused in production" in (
        result.stderr
    )


def test_production_logs_json_lines(default_project: Project) -> None:
    env = {"APP_ENV": "production", "SECRET_KEY": "a-real-secret-for-this-test"}
    with default_project.serve(env) as service, service.client() as http:
        http.get("/health/live", headers={"X-Request-ID": "json-log-1"})
        code, _ = service.stop()
    assert code == 0
    lines = [json.loads(line) for line in service.log().splitlines() if line]
    request_line = next(e for e in lines if e.get("request_id") == "json-log-1")
    assert request_line["status"] == 200
    assert request_line["level"] == "INFO"
    assert request_line["message"] == "GET /health/live 200"


def quick_start_command() -> str:
    """The one-line command of the README's quick start."""
    readme = (TEMPLATE_ROOT / "README.md").read_text()
    section = readme.partition("## Quick start")[2]
    match = re.search(r"```sh\n(.+?)\n```", section)
    assert match, "no command in the README's quick start"
    return match.group(1)


def test_the_readme_quick_start_serves_the_default_service(
    template: Path, tmp_path: Path
) -> None:
    """The README's command, as written, from a checkout of the template:
    renders with every default (Python 3.14) and serves on PORT."""
    checkout = tmp_path / "copier-quart"
    shutil.copytree(template, checkout)
    port = free_port()
    log = tmp_path / "quick-start.log"
    with log.open("w") as output:
        process = subprocess.Popen(  # noqa: S602 - the README's shell command
            quick_start_command(),
            shell=True,
            cwd=checkout,
            env=service_env({"PORT": str(port)}),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                live = httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=2)
                if live.status_code == 200:
                    break
            time.sleep(0.5)
        else:
            pytest.fail(f"the quick start did not serve:\n{log.read_text()[-6000:]}")
        service = tmp_path / "my-service"
        assert (service / ".python-version").read_text().strip() == "3.14"
        python = service / ".venv" / "bin" / "python"
        version = subprocess.run(
            [python, "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert version.stdout.strip() == "(3, 14)"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
