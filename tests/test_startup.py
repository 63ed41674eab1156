"""Start-up of the default service as an operator meets it: bad configuration
stops it with a clear message, and production mode logs JSON lines."""

from __future__ import annotations

import json

import pytest

from .generated import Project

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
