"""Docker: every Dockerfile and compose file lints clean, offline, and a
representative set of images builds, boots healthy, combination real clients on
the host network and stops cleanly on ``docker stop``.

The representative set is computed from ``copier.yml``: the fewest Docker
combinations (on the Python the offline base image has) that between them
take every answer of every question at least once, so each database, each
protocol and each broker is built and booted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .docker import DockerUnavailable, Engine, base_image, docker_engine, health
from .generated import SERVING_QUESTIONS, Project, free_port, run, trusting
from .http3 import http3_client
from .matrix import Combination, combination_id, combinations, covering_set
from .otlp import otlp_receiver
from .projects import ProjectFactory, matrix_params
from .services import Databases, missing

pytestmark = pytest.mark.slow

TOOLS = Path(sys.executable).parent
OFFLINE_PYTHON = "3.14"  # the default; its offline stand-in base image is forky
ARTIFACTS = Path(__file__).parent / "artifacts"
GRACE = 5.0  # the service's default GRACEFUL_TIMEOUT


def representative_set() -> list[Combination]:
    """Docker combinations on the offline base image's Python in which every
    answer appears at least once (each build and boot costs about a minute)."""
    candidates = [
        combination
        for combination in combinations()
        if combination.docker and combination.python_version == OFFLINE_PYTHON
    ]
    return covering_set(candidates, strength=1)


WITH_DOCKER = matrix_params(lambda c: c.docker, vary=SERVING_QUESTIONS)
REPRESENTATIVE = [
    pytest.param(
        combination,
        id=combination.id,
        marks=pytest.mark.xdist_group("docker-engine"),
    )
    for combination in representative_set()
]


@pytest.fixture(params=WITH_DOCKER)
def docker_rendering(
    request: pytest.FixtureRequest, projects: ProjectFactory
) -> Project:
    """The service rendered for one Docker combination (once per worker)."""
    return projects.rendering(request.param)


# Files that passed a linter on this worker, by linter and content: the same
# bytes lint alike, so renderings with an identical file share the run.
LINTED: set[tuple[str, bytes]] = set()


def lint_once(project: Project, files: tuple[str, ...], command: list[str]) -> None:
    """Run the linter *command* in *project* unless *files*, byte for byte,
    already passed it on this worker."""
    key = (command[0], b"\0".join((project.path / f).read_bytes() for f in files))
    if key not in LINTED:
        run(command, project.path, env={"SECRET_KEY": "compose-config-check"})
        LINTED.add(key)


def test_dockerfile_passes_hadolint(docker_rendering: Project) -> None:
    hadolint = [str(TOOLS / "hadolint"), "--failure-threshold", "warning"]
    lint_once(docker_rendering, ("Dockerfile",), [*hadolint, "Dockerfile"])


def test_compose_file_is_valid(docker_rendering: Project) -> None:
    # compose.yaml is the one file `config` reads here (there is no .env).
    assert not (docker_rendering.path / ".env").exists()
    compose = [str(TOOLS / "docker-compose"), "config", "-q"]
    lint_once(docker_rendering, ("compose.yaml",), compose)


def test_dockerfile_is_safe_and_portable(docker_rendering: Project) -> None:
    combination = docker_rendering.combination
    text = (docker_rendering.path / "Dockerfile").read_text()
    runtime = text.rsplit("\nFROM ", 1)[1]
    assert "USER 10001:10001" in runtime, "the runtime stage must not run as root"
    assert re.search(r"HEALTHCHECK .*\n\s+CMD \[\"python\", .*/health/live", runtime)
    package = docker_rendering.package
    assert f'CMD ["python", "-m", "{package}"]' in runtime
    for builder_only in ("# syntax=", "<<", "--mount"):  # the classic builder too
        assert builder_only not in text
    copied = " ".join(re.findall(r"^COPY (.*)$", text, re.MULTILINE))
    for secret in (".env", ".pem", ".key", "instance", ".git"):
        assert secret not in copied, f"{secret} copied into the image"
    ignored = (docker_rendering.path / ".dockerignore").read_text().splitlines()
    for entry in (".git", ".env", "instance", "*.pem", "*.key", ".venv"):
        assert entry in ignored
    exposed = re.search(r"^EXPOSE (.*)$", runtime, re.MULTILINE)
    assert exposed is not None
    assert ("8443/udp" in exposed[1]) == (combination.http == "h3")


def test_no_docker_files_without_docker(projects: ProjectFactory) -> None:
    combination = next(c for c in combinations() if not c.docker)
    project = projects.rendering(combination)
    for name in ("Dockerfile", ".dockerignore", "compose.yaml"):
        assert not (project.path / name).exists()


@pytest.fixture(scope="session")
def docker(in_ci: bool) -> Iterator[Engine]:
    """A Docker engine with the base image the Dockerfile names."""
    with contextlib.ExitStack() as stack:
        try:
            engine = stack.enter_context(docker_engine())
            base_image(engine, OFFLINE_PYTHON)
        except DockerUnavailable as error:
            missing(f"no Docker engine or base image: {error}", in_ci)
        yield engine


def record_image(combination: Combination, size: int, build_seconds: float) -> None:
    """Keep the image size for the README (tests/artifacts/docker-images.json)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "docker-images.json"
    sizes = json.loads(path.read_text()) if path.exists() else {}
    sizes[combination_id(combination)] = {
        "bytes": size,
        "megabytes": round(size / 1e6, 1),
        "build_seconds": round(build_seconds, 1),
    }
    path.write_text(json.dumps(sizes, indent=2, sort_keys=True) + "\n")


@pytest.mark.parametrize("combination", REPRESENTATIVE)
def test_image_builds_boots_healthy_and_stops_cleanly(
    combination: Combination,
    projects: ProjectFactory,
    docker: Engine,
    tmp_path: Path,
    databases: Databases,
) -> None:
    project = projects.rendering(combination)
    tag = f"copier-quart-test-{uuid.uuid4().hex[:12]}"
    started = time.monotonic()
    docker.run(
        "build", "--network=host", "-q", "-t", tag, str(project.path), timeout=900
    )
    build_seconds = time.monotonic() - started
    size = int(docker.run("image", "inspect", "--format", "{{.Size}}", tag).stdout)
    record_image(combination, size, build_seconds)
    try:
        env, mounts = container_settings(combination, tmp_path, databases)
        options = [f"--env={k}={v}" for k, v in env.items()] + mounts
        if combination.database != "none":  # as compose's migrate service
            docker.run(
                "run", "--rm", "--network=host", *options, tag,
                "alembic", "upgrade", "head",
            )  # fmt: skip
        boot_and_stop(docker, tag, options, env, combination, tmp_path)
    finally:
        docker.run("rmi", "-f", tag, check=False)


@pytest.mark.parametrize("combination", REPRESENTATIVE[:1])
def test_an_image_with_the_tracing_extra_exports_spans(
    combination: Combination,
    projects: ProjectFactory,
    docker: Engine,
    tmp_path: Path,
    databases: Databases,
) -> None:
    """``--build-arg EXTRAS=tracing``: the image has OpenTelemetry, and the
    container sends its spans to the collector ``OTEL_EXPORTER_OTLP_ENDPOINT``
    names."""
    project = projects.rendering(combination)
    tag = f"copier-quart-test-{uuid.uuid4().hex[:12]}"
    build = ["build", "--network=host", "-q", "--build-arg", "EXTRAS=tracing"]
    docker.run(*build, "-t", tag, str(project.path), timeout=900)
    name = tag + "-app"
    try:
        env, mounts = container_settings(combination, tmp_path, databases)
        with otlp_receiver() as (receiver, endpoint):
            env |= {
                "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                "OTEL_BSP_SCHEDULE_DELAY": "100",  # milliseconds
                "AUTO_MIGRATE": "true",
            }
            options = [f"--env={k}={v}" for k, v in env.items()] + mounts
            docker.run(
                "run", "-d", "--name", name, "--network=host",
                "--health-interval=1s", *options, tag,
            )  # fmt: skip
            wait_until_healthy(docker, name)
            base = f"http://127.0.0.1:{env['PORT']}"
            created = httpx.post(f"{base}/api/messages", json={"text": "traced"})
            assert created.status_code == 201, created.text
            span = receiver.wait_for("POST /api/messages")
            assert span.attributes["http.route"] == "/api/messages"
    finally:
        docker.run("rm", "-f", name, check=False)
        docker.run("rmi", "-f", tag, check=False)


def wait_until_healthy(docker: Engine, name: str, timeout: float = 60) -> None:
    """Wait until Docker reports the container *name* healthy; fail with
    its logs if it turns anything else, or not within *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while (status := health(docker, name)) != "healthy":
        logs = docker.run("logs", name, check=False)
        assert status == "starting", f"{status}\n{logs.stdout}{logs.stderr}"
        assert time.monotonic() < deadline, f"not healthy within {timeout:g} s"
        time.sleep(0.5)


def boot_and_stop(
    docker: Engine,
    tag: str,
    options: list[str],
    env: dict[str, str],
    combination: Combination,
    tmp_path: Path,
) -> None:
    name = tag + "-app"
    docker.run(
        "run", "-d", "--name", name, "--network=host",
        "--health-interval=1s", "--health-start-period=30s", *options, tag,
    )  # fmt: skip
    try:
        wait_until_healthy(docker, name)

        base = f"http://127.0.0.1:{env['PORT']}"
        with httpx.Client(base_url=base, timeout=10) as http:
            assert http.get("/health/ready").status_code == 200
            created = http.post("/api/messages", json={"text": "from a container"})
            assert created.status_code == 201, created.text
            message = created.json()
            assert http.get(f"/api/messages/{message['id']}").json() == message
        metrics = httpx.get(f"http://127.0.0.1:{env['METRICS_PORT']}/metrics")
        assert "messages_published_total 1.0" in metrics.text
        ca = trusting(str(tmp_path / "certs" / "client.pem"))
        with httpx.Client(http2=True, verify=ca, timeout=10) as https:
            response = https.get(f"https://127.0.0.1:{env['TLS_PORT']}/health/live")
            assert response.status_code == 200
            expected = "HTTP/1.1" if combination.http == "h1" else "HTTP/2"
            assert response.http_version == expected
        if combination.http == "h3":
            asyncio.run(http3_live(int(env["TLS_PORT"]), tmp_path / "certs"))

        started = time.monotonic()
        docker.run("stop", "--time", "15", name, timeout=60)
        seconds = time.monotonic() - started
        state = json.loads(
            docker.run("inspect", "--format", "{{json .State}}", name).stdout
        )
        logs = docker.run("logs", name).stderr
        assert state["ExitCode"] == 0, logs
        assert seconds < GRACE + 2, f"docker stop took {seconds:.1f}s"
        assert "shutting down" in logs
        assert "Traceback" not in logs
    finally:
        docker.run("rm", "-f", name, check=False)


async def http3_live(port: int, certs: Path) -> None:
    async with http3_client("127.0.0.1", port, str(certs / "client.pem")) as client:
        response = await client.request("GET", f"localhost:{port}", "/health/live")
        assert response.status == 200


def container_settings(
    combination: Combination, tmp: Path, databases: Databases
) -> tuple[dict[str, str], list[str]]:
    """Environment and mounts for a container: free ports, its own database
    (on this machine's servers, over the host network) and Redis prefix, and
    a development certificate mounted read-only."""
    env = {
        "PORT": str(free_port()),
        "TLS_PORT": str(free_port()),
        "METRICS_PORT": str(free_port()),
        "SECRET_KEY": "a-secret-for-the-container-test",
        "GRACEFUL_TIMEOUT": str(GRACE),
        "CERT_FILE": "/run/certs/server.pem",
        "KEY_FILE": "/run/certs/server.key",
        **databases.env(combination),
    }
    certs = tmp / "certs"
    certs.mkdir()
    trustme = [sys.executable, "-m", "trustme", "-q", "-d", str(certs)]
    subprocess.run(trustme, check=True, capture_output=True)
    for path in certs.iterdir():
        path.chmod(0o644)  # read by the image's uid 10001
    mounts = [f"--volume={certs}:/run/certs:ro"]
    if combination.database == "sqlite":
        # The container's own default file, in a host folder it can write.
        del env["DATABASE_URL"]
        instance = tmp / "instance"
        instance.mkdir()
        instance.chmod(0o777)  # written by the image's uid 10001
        mounts.append(f"--volume={instance}:/app/instance")
    return env, mounts


def test_the_representative_set_covers_every_answer() -> None:
    chosen = representative_set()
    for name in ("database", "http", "broker", "websockets", "sse"):
        values = {c.get(name) for c in combinations() if c.docker}
        covered = {c.get(name) for c in chosen}
        assert values - {None} <= covered, name
    assert len(chosen) <= 5, chosen


def test_readme_reports_the_image_size(projects: ProjectFactory) -> None:
    combination = next(c for c in combinations() if c.docker)
    readme = (projects.rendering(combination).path / "README.md").read_text()
    assert re.search(r"image is about \d+ MB", readme), "README lacks the image size"
