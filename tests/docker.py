"""A Docker engine and base images for the build-and-boot tests, offline.

On a machine with a running engine (``DOCKER_HOST`` or the default socket)
and a registry, the tests use them as they are. This module is the path for
a CI machine with neither, such as the one this template is developed on:

* **Engine.** When none answers, install Debian's ``docker.io`` (apt-get)
  and start ``dockerd`` with no networking of its own: ``--iptables=false
  --ip-forward=false --ip-masq=false --bridge=none``, its own data root,
  exec root and socket. Containers run with ``--network host`` only, and the
  daemon is stopped by its PID afterwards.
* **Base image.** The Dockerfile names ``python:<version>-slim``. Without a
  registry, a stand-in is built: Debian ``--variant=minbase`` from
  ``debootstrap`` (trixie has Python 3.13, forky 3.14 and 3.15) imported
  with ``docker import``, Debian's ``python3.X`` and ``python3.X-venv`` with a
  virtual environment on
  PATH (as the official image has ``python`` and ``pip`` on PATH), and the
  host's extra CA certificates so HTTPS to the package index works from a
  build behind a TLS-inspecting proxy. It is tagged with the official name.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / (
    "copier-quart-tests"
)
# Debian releases that package the Python version the key names (python3.X).
DEBIAN_PYTHON = {"3.15": "forky", "3.14": "forky", "3.13": "trixie"}
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
HOST_CA_CERTIFICATES = Path("/usr/local/share/ca-certificates")

# An imported file system has no environment: PATH is set in full, the
# virtual environment first (the official image has `python` and `pip` there).
STAND_IN_PATH = ":".join(
    (
        "/usr/local/python/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    )
)
STAND_IN_DOCKERFILE = """\
FROM {rootfs}
COPY ca-certificates/ /usr/local/share/ca-certificates/
RUN update-ca-certificates \\
    && python{version} -m venv /usr/local/python \\
    && ln -s /usr/local/python/bin/python /usr/local/bin/python
ENV PATH={path} \\
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \\
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \\
    LANG=C.UTF-8
CMD ["python3"]
"""


class DockerUnavailable(RuntimeError):
    """No engine or no base image could be had; the message says why."""


class Engine:
    """A Docker engine reached through the ``docker`` client."""

    def __init__(self, host: str | None) -> None:
        self.host = host

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
        if self.host:
            env["DOCKER_HOST"] = self.host
        env["DOCKER_BUILDKIT"] = "0"  # the classic builder: the Dockerfile must suit it
        return env

    def run(
        self, *args: str, timeout: float = 600, check: bool = True, **kwargs: object
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["docker", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kwargs,  # type: ignore[arg-type]
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(args)} exited {result.returncode}\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def answers(self) -> bool:
        try:
            return self.run("info", timeout=20, check=False).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    def has_image(self, name: str) -> bool:
        return self.run("image", "inspect", name, check=False).returncode == 0


def _install_docker() -> None:
    if shutil.which("dockerd"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise DockerUnavailable("no dockerd, and apt-get cannot install docker.io here")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (["update", "-qq"], ["install", "-y", "-qq", "docker.io"]):
        result = subprocess.run(
            ["apt-get", *args], env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise DockerUnavailable(
                f"apt-get {' '.join(args)}: {result.stderr[-2000:]}"
            )


@contextlib.contextmanager
def docker_engine() -> Iterator[Engine]:
    """The engine that answers, or one started here (and stopped after)."""
    if not shutil.which("docker"):
        _install_docker()
    existing = Engine(os.environ.get("DOCKER_HOST"))
    if existing.answers():
        yield existing
        return
    _install_docker()
    exec_root = Path(tempfile.mkdtemp(prefix="cq-docker-exec-"))
    data_root = CACHE / "docker-data"  # kept: later runs reuse built layers
    data_root.mkdir(parents=True, exist_ok=True)
    socket = exec_root / "docker.sock"
    log = (exec_root / "dockerd.log").open("wb")
    daemon = subprocess.Popen(
        [
            "dockerd",
            "--iptables=false",
            "--ip-forward=false",
            "--ip-masq=false",
            "--bridge=none",
            f"--data-root={data_root}",
            f"--exec-root={exec_root}",
            f"--pidfile={exec_root / 'dockerd.pid'}",
            f"--host=unix://{socket}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    engine = Engine(f"unix://{socket}")
    try:
        deadline = time.monotonic() + 60
        while not engine.answers():
            if daemon.poll() is not None or time.monotonic() > deadline:
                text = (exec_root / "dockerd.log").read_text(errors="replace")
                raise DockerUnavailable(f"dockerd did not start:\n{text[-3000:]}")
            time.sleep(0.5)
        yield engine
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        subprocess.run(
            ["umount", str(exec_root / "netns" / "default")],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(exec_root, ignore_errors=True)


def _debootstrap(suite: str, python_version: str) -> Path:
    """A minbase root file system of *suite* with *python_version*, as a tarball."""
    tarball = CACHE / f"debian-{suite}-python{python_version}.tar"
    if tarball.exists():
        return tarball
    if not shutil.which("debootstrap"):
        _apt_install("debootstrap")
    with tempfile.TemporaryDirectory(prefix="cq-rootfs-") as directory:
        rootfs = Path(directory) / "rootfs"
        result = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include=python{python_version},python{python_version}-venv,"
                "ca-certificates",
                suite,
                str(rootfs),
                DEBIAN_MIRROR,
                # bookworm's debootstrap has no script named after forky.
                *(["/usr/share/debootstrap/scripts/sid"] if suite == "forky" else []),
            ],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if result.returncode != 0:
            raise DockerUnavailable(f"debootstrap {suite}: {result.stderr[-3000:]}")
        shutil.rmtree(rootfs / "var" / "cache" / "apt" / "archives", ignore_errors=True)
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], check=True)
        partial.rename(tarball)
    return tarball


def _apt_install(package: str) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(
        ["apt-get", "install", "-y", "-qq", package],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise DockerUnavailable(f"apt-get install {package}: {result.stderr[-2000:]}")


def base_image(engine: Engine, python_version: str) -> str:
    """``python:<version>-slim``: pulled if a registry answers, else a stand-in."""
    name = f"python:{python_version}-slim"
    if engine.has_image(name):
        return name
    if engine.run("pull", "-q", name, check=False, timeout=300).returncode == 0:
        return name
    suite = DEBIAN_PYTHON.get(python_version)
    if suite is None:
        raise DockerUnavailable(
            f"no registry, and no Debian release ships Python {python_version} "
            "for an offline stand-in"
        )
    rootfs = f"copier-quart-tests/debian-{suite}-python{python_version}-rootfs"
    if not engine.has_image(rootfs):
        tarball = _debootstrap(suite, python_version)
        engine.run("import", str(tarball), rootfs, timeout=600)
    with tempfile.TemporaryDirectory(prefix="cq-base-") as directory:
        context = Path(directory)
        certificates = context / "ca-certificates"
        certificates.mkdir()
        for certificate in sorted(HOST_CA_CERTIFICATES.glob("*.crt")):
            shutil.copy(certificate, certificates / certificate.name)
        dockerfile = STAND_IN_DOCKERFILE.format(
            rootfs=rootfs, path=STAND_IN_PATH, version=python_version
        )
        (context / "Dockerfile").write_text(dockerfile)
        engine.run("build", "-q", "-t", name, str(context), timeout=600)
    return name


def health(engine: Engine, container: str) -> str:
    """The container's health status (``starting``, ``healthy``, ...)."""
    result = engine.run("inspect", "--format", "{{json .State}}", container)
    state = json.loads(result.stdout)
    return (
        state.get("Health", {}).get("Status", "none")
        if state["Running"]
        else (f"exited {state['ExitCode']}")
    )
