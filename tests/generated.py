"""Render, install, check and boot generated services.

Everything here talks to a generated service the way its users do: through
its own ``pyproject.toml`` (``uv sync`` from its declared dependencies only),
its own tools (its pinned ruff, its own tests) and ``python -m <package>``
over real sockets.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import copier
import httpx
from uv import find_uv_bin

from . import copier_cache, jinja_cache
from .interpreters import with_interpreters
from .matrix import Combination

jinja_cache.install()
jinja_cache.install_plain_strings()
copier_cache.install()

TEMPLATE_ROOT = Path(__file__).resolve().parents[1]
# Files in a generated service that are Jinja on purpose (the app's own pages).
APP_TEMPLATE_DIR = re.compile(r"^src/[a-z0-9_]+/templates/")
# Third-party files the template copies byte for byte (Swagger UI for /docs):
# minified code may hold ``{{`` without being a template.
VENDORED_DIR = re.compile(r"^src/[a-z0-9_]+/static/swagger-ui/")
RUNNING_ON = re.compile(r"Running on (https?)://([\d.]+):(\d+)( \(QUIC\))?")


HIDDEN_VARIABLES = {
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "PYTHONHOME",
    "UV_PROJECT_ENVIRONMENT",
    # Services must write bytecode, or every process start compiles all its
    # imports again: seconds each, for hundreds of processes in a run.
    "PYTHONDONTWRITEBYTECODE",
}


# Generated files that never change how the service runs.
NOT_RUNTIME = frozenset(
    {"README.md", ".copier-answers.yml", ".pre-commit-config.yaml", ".gitignore"}
    | {"Dockerfile", ".dockerignore", "compose.yaml"}
)
# Folders of such files (deploy/: the Kubernetes manifests).
NOT_RUNTIME_DIRS = (".github/", "instance/", "deploy/")
# Files that choose how the service is served, read only when it boots: the
# service's own tests never read them, so they do not change the outcome.
SERVING_ONLY = frozenset({"hypercorn.toml", "granian.toml"})
# What ruff reads (``Project.lint_fingerprint``): its sources and settings.
RUFF_SOURCES = frozenset({".py", ".pyi", ".ipynb"})
RUFF_SETTINGS = frozenset(
    {"pyproject.toml", "ruff.toml", ".ruff.toml", ".gitignore", ".python-version"}
)
# Questions that choose how a service is served more than what its code is.
# Combinations that differ only in them run on one xdist worker, where those
# whose code is the same share one install and one run of the service's own
# tests: their answers change only NOT_RUNTIME and SERVING_ONLY files
# (test_harness checks that the three agree). Scheduling only: each still
# renders, lints and boots on its own.
SERVING_QUESTIONS = frozenset({"http", "docker"})
# The question that picks the interpreter, not the code: every answer renders
# the same src/ and tests/. The checks that run a service (its type check,
# its own tests, its boot) take every combination on the default answer and,
# on each other answer, a covering set in which every answer meets that
# interpreter (``matrix_params(..., every_python=False)``,
# ``projects.OTHER_PYTHON_STRENGTH``).
INTERPRETER_QUESTION = "python_version"
# The command the generated README gives for a development certificate.
CERTIFICATE_COMMAND = [
    "python",
    "-m",
    "trustme",
    "-q",
    "-d",
    "instance/certs",
    "-i",
    "localhost",
    "127.0.0.1",
    "::1",
]


class CommandFailed(AssertionError):
    """A command in a generated service failed; the message has its output."""


def free_port() -> int:
    """A port free for both TCP and UDP, as ``TLS_PORT`` needs with QUIC."""
    for _ in range(50):
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise AssertionError("no port free for both TCP and UDP")


def trusting(ca_file: str) -> ssl.SSLContext:
    """A client TLS context that trusts the test's CA (and verifies)."""
    return ssl.create_default_context(cafile=ca_file)


def uv_bin() -> str:
    """The uv executable (the one running this suite when there is one)."""
    return os.environ.get("UV") or find_uv_bin()


def service_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for commands in a generated service.

    The suite's own virtual environment is removed so a service never sees
    a package it did not declare. Interpreters come from
    :mod:`.interpreters`.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in HIDDEN_VARIABLES and not k.startswith(("PYTEST_", "COV_"))
    }
    env = with_interpreters(env)
    env.update(
        {
            "UV_NO_PROGRESS": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Template Tests",
            "GIT_AUTHOR_EMAIL": "tests@example.com",
            "GIT_COMMITTER_NAME": "Template Tests",
            "GIT_COMMITTER_EMAIL": "tests@example.com",
        }
    )
    env.update(extra or {})
    return env


def run(
    args: list[str],
    cwd: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run *args* in *cwd*; raise :class:`CommandFailed` with the output on
    error, or when it runs past *timeout* seconds (killed)."""
    try:
        result = subprocess.run(
            args,
            cwd=cwd,
            env=service_env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        stdout, stderr = (
            out if isinstance(out, str) else (out or b"").decode(errors="replace")
            for out in (expired.stdout, expired.stderr)
        )
        raise CommandFailed(
            f"`{' '.join(args)}` ran over {timeout:.0f}s in {cwd}\n"
            f"--- stdout\n{stdout[-6000:]}\n--- stderr\n{stderr[-12000:]}"
        ) from None
    if result.returncode != 0:
        raise CommandFailed(
            f"`{' '.join(args)}` exited {result.returncode} in {cwd}\n"
            f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
        )
    return result


def copy_working_tree(dest: Path) -> Path:
    """Copy the template's working tree (uncommitted work included) to *dest*."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=TEMPLATE_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = TEMPLATE_ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def snapshot_template(dest: Path) -> Path:
    """Commit the working tree (uncommitted work included) to a throwaway repo.

    Copier renders a git template at a commit; a snapshot makes the tests
    render exactly the files on disk, without touching the real repository.
    """
    copy_working_tree(dest)
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-q", "-m", "template snapshot"], dest)
    return dest


def render(
    template: Path, dest: Path, answers: Mapping[str, Any], vcs_ref: str = "HEAD"
) -> Path:
    """Render *template* at *vcs_ref* into *dest* with *answers* (defaults for
    the rest), as ``copier copy --trust --defaults`` does. ``HEAD`` of a
    working tree includes its uncommitted changes."""
    copier.run_copy(
        str(template),
        str(dest),
        data=dict(answers),
        defaults=True,
        unsafe=True,
        vcs_ref=vcs_ref,
        quiet=True,
    )
    return dest


def edit(path: Path, old: str, new: str) -> None:
    """Replace the first *old* in *path* with *new*, as a user edits a file;
    fail if *old* is not there."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


@dataclass
class Project:
    """A rendered service on disk."""

    path: Path
    # The answers it was rendered with (those the matrix varies, at least).
    combination: Combination = field(default_factory=Combination)
    # The service whose .venv runs this one (itself, or an identical install).
    install: Project | None = None

    def __post_init__(self) -> None:
        self.combination = Combination(self.combination)

    @property
    def package(self) -> str:
        """The service's import name, read back from the answers file."""
        text = (self.path / ".copier-answers.yml").read_text()
        match = re.search(r"^package_name: (\S+)$", text, re.MULTILINE)
        assert match, "package_name missing from .copier-answers.yml"
        return match.group(1)

    @property
    def python(self) -> Path:
        """The interpreter of the service's virtual environment."""
        return (self.install or self).path / ".venv" / "bin" / "python"

    def uv(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run ``uv ARGS`` in the service."""
        return run([uv_bin(), *args], self.path, timeout=timeout)

    def sync(self) -> None:
        """Install the service's declared dependencies into its own .venv.

        Offline first, from the shared uv cache; online only when the cache
        lacks something (the first run on a machine).
        """
        try:
            self.uv("sync", "--offline", "--quiet")
        except CommandFailed:
            self.uv("sync", "--quiet")

    def files(self) -> Iterator[Path]:
        """Every generated file (the virtual environment and caches excluded)."""
        skip = {".venv", ".git", "__pycache__"}
        skip |= {".pytest_cache", ".ruff_cache", ".mypy_cache"}
        for path in sorted(self.path.rglob("*")):
            if path.is_file() and not skip & set(path.relative_to(self.path).parts):
                yield path

    def leftover_jinja(self) -> list[str]:
        """Generated files that still hold template syntax or a .jinja suffix."""
        problems = []
        for path in self.files():
            relative = path.relative_to(self.path).as_posix()
            if relative.endswith(".jinja"):
                problems.append(f"{relative}: .jinja suffix left")
            elif not (APP_TEMPLATE_DIR.match(relative) or VENDORED_DIR.match(relative)):
                text = path.read_text(errors="replace")
                problems.extend(
                    f"{relative}: contains {marker!r}"
                    for marker in ("{{", "{%", "{#")
                    if marker in text
                )
        return problems

    def lint(self) -> None:
        """Ruff, at the version the service pins, with the service's config.

        The suite's ruff is pinned to the same version (``test_pins_agree``),
        so linting needs no installed service.
        """
        ruff = [sys.executable, "-m", "ruff"]
        run([*ruff, "check", "--no-cache", "."], self.path)
        run([*ruff, "format", "--check", "--no-cache", "."], self.path)

    def lint_fingerprint(self) -> str:
        """A hash of every file ruff reads: the Python files, the settings in
        pyproject.toml and .gitignore (ruff skips what git ignores).
        Renderings that differ only elsewhere (Docker, serving files, docs)
        lint alike."""
        digest = hashlib.sha256()
        for path in self.files():
            relative = path.relative_to(self.path).as_posix()
            if relative in RUFF_SETTINGS or path.suffix in RUFF_SOURCES:
                digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()

    def dependency_fingerprint(self) -> str:
        """A hash of what ``uv sync`` installs from: the declared dependencies
        (pyproject.toml) and the Python version."""
        digest = hashlib.sha256()
        for name in ("pyproject.toml", ".python-version"):
            digest.update((self.path / name).read_bytes() + b"\0")
        return digest.hexdigest()

    def run_env(self) -> dict[str, str]:
        """Environment that runs this service's own code on a shared install.

        Combinations with the same declared dependencies share one virtual
        environment (each fresh one costs seconds of bytecode compiling on its
        first run). Its editable install points at another combination's
        ``src/``; ``PYTHONPATH`` comes first on ``sys.path``, so this
        service's own package is the one imported.
        """
        if self.install is None or self.install is self:
            return {}
        return {"PYTHONPATH": str(self.path / "src")}

    def runtime_fingerprint(self) -> str:
        """A hash of every file its code and its own tests depend on.

        Combinations that differ only in documentation, CI, Docker or serving
        files share one run of their own tests.
        """
        digest = hashlib.sha256()
        for path in self.files():
            relative = path.relative_to(self.path).as_posix()
            skip = NOT_RUNTIME | SERVING_ONLY | {"uv.lock"}  # uv.lock: made by sync
            if relative in skip or relative.startswith(NOT_RUNTIME_DIRS):
                continue
            digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()

    def source_fingerprint(self) -> str:
        """A hash of the service's Python code (``src/`` and ``tests/``), which
        no Python version answer changes: what its type checker reads."""
        digest = hashlib.sha256()
        for path in self.files():
            relative = path.relative_to(self.path).as_posix()
            if relative.endswith(".py"):
                digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()

    def mypy_settings(self) -> str:
        """A hash of the service's mypy settings. mypy drops its whole cache
        when they change (Granian's services exclude one untyped call), so
        services checked one after another share a cache only with equal
        settings."""
        tool = tomllib.loads((self.path / "pyproject.toml").read_text())["tool"]
        settings = {name: tool.get(name) for name in ("mypy", "pydantic-mypy")}
        return hashlib.sha256(repr(settings).encode()).hexdigest()[:16]

    def type_check(self, cache_dir: Path) -> str:
        """Run the service's pinned mypy with its own configuration (strict);
        return its summary.

        *cache_dir* may be shared by services checked one after another:
        mypy reuses what it knows of a module whose source is unchanged
        (third-party packages, mostly), whatever its path.
        """
        mypy = [str(self.python), "-m", "mypy", "--cache-dir", str(cache_dir)]
        result = run(mypy, self.path, env=self.run_env(), timeout=300)
        return result.stdout.strip().splitlines()[-1]

    def own_tests(self, env: Mapping[str, str] | None = None) -> str:
        """Run the service's generated test suite; return its summary."""
        # A temp root of its own: pytest numbers and prunes the directories in
        # its root, and in the shared /tmp/pytest-of-<user> that means
        # seconds of deleting other runs' files, every run.
        temp_root = self.path.parent / "pytest-temp"
        temp_root.mkdir(exist_ok=True)
        # A run takes seconds; one that hangs fails in 4 minutes, with every
        # thread's stack printed after one minute in one test (faulthandler).
        pytest = [str(self.python), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        result = run(
            [*pytest, "-o", "faulthandler_timeout=60"],
            self.path,
            env={
                **self.run_env(),
                **(env or {}),
                "PYTEST_DEBUG_TEMPROOT": str(temp_root),
            },
            timeout=240,
        )
        return result.stdout.strip().splitlines()[-1]

    def make_certificate(self) -> dict[str, str]:
        """Create a development certificate with the README's command.

        Returns the settings that turn TLS on, plus ``CA_BUNDLE``: the CA
        certificate clients verify the service against.
        """
        python, *args = CERTIFICATE_COMMAND
        assert python == "python"
        certs = self.path / "instance" / "certs"
        certs.mkdir(parents=True, exist_ok=True)  # `mkdir -p` in the README
        run([str(self.python), *args], self.path, timeout=60)
        return {
            "CERT_FILE": str(certs / "server.pem"),
            "KEY_FILE": str(certs / "server.key"),
            "CA_BUNDLE": str(certs / "client.pem"),
        }

    def start_until_exit(self, **env: str) -> subprocess.CompletedProcess[str]:
        """Run ``python -m <package>`` until it exits (start-up failures)."""
        return subprocess.run(
            [str(self.python), "-m", self.package],
            cwd=self.path,
            env=service_env(
                {"PORT": "0", "METRICS_PORT": "0", **self.run_env(), **env}
            ),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    @contextlib.contextmanager
    def serve(
        self, env: Mapping[str, str] | None = None, *, log: Path | None = None
    ) -> Iterator[Service]:
        """Boot ``python -m <package>`` on a free port; stop it afterwards."""
        service = Service(
            self, dict(env or {}), log or self.path.parent / "service.log"
        )
        service.start()
        try:
            yield service
        finally:
            service.kill()


@dataclass
class Service:
    """A generated service running in its own process."""

    project: Project
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    base_url: str = ""  # cleartext HTTP on PORT
    tls_url: str = ""  # HTTPS on TCP TLS_PORT, with a certificate
    quic_port: int = 0  # HTTP/3 on UDP TLS_PORT, with a certificate and h3
    metrics_port: int = 0  # METRICS_PORT (0: metrics off)

    def start(self, timeout: float = 30) -> None:
        """Start the process and wait until it answers ``/health/live``."""
        env = {
            "HOST": "127.0.0.1",
            "PORT": "0",
            "METRICS_PORT": str(free_port()),
            **self.project.run_env(),
            **self.env,
        }
        self.metrics_port = int(env["METRICS_PORT"])
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(self.project.python), "-m", self.project.package],
            cwd=self.project.path,
            env=service_env(env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CommandFailed(
                    f"service exited {self.process.returncode}:\n{self.log()}"
                )
            if self._listening():
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{self.base_url}/health/live").status_code == 200:
                        return
            time.sleep(0.05)
        raise CommandFailed(f"service did not become live in {timeout}s:\n{self.log()}")

    def _listening(self) -> bool:
        """Read the addresses the server reports; True once it listens on PORT
        and, given a certificate, on TLS_PORT (each address is its own log
        line, so one read can fall between them)."""
        for scheme, host, port, quic in RUNNING_ON.findall(self.log()):
            if quic:
                self.quic_port = int(port)
            elif scheme == "https":
                self.tls_url = f"https://{host}:{port}"
            elif int(port) != self.metrics_port:
                self.base_url = f"http://{host}:{port}"
        wants_tls = bool(self.env.get("CERT_FILE"))
        return bool(self.base_url) and (bool(self.tls_url) or not wants_tls)

    def wait_for_quic(self, timeout: float = 10) -> int:
        """The QUIC port, once Hypercorn reports it (after the TCP ports)."""
        deadline = time.monotonic() + timeout
        while not self.quic_port and time.monotonic() < deadline:
            self._listening()
            time.sleep(0.05)
        return self.quic_port

    def log(self) -> str:
        """Everything the service wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")

    @property
    def metrics_url(self) -> str:
        """``/metrics`` on METRICS_PORT (empty when metrics are off)."""
        if not self.metrics_port:
            return ""
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def scrape(self) -> str:
        """The service's metrics, in Prometheus's text format."""
        response = httpx.get(self.metrics_url, timeout=10)
        response.raise_for_status()
        return response.text

    def client(self, **kwargs: Any) -> httpx.Client:
        """An HTTP client for the service."""
        return httpx.Client(base_url=self.base_url, timeout=10, **kwargs)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> tuple[int, float]:
        """Send *sig*; return the exit code and the seconds the exit took."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise CommandFailed(
                f"service ignored signal {sig} for {timeout}s:\n{self.log()}"
            ) from None
        return code, time.monotonic() - started

    def kill(self) -> None:
        """Make sure the process is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
