"""The servers under test: the rendered service and its peers, as users run them.

Each server gets its own PostgreSQL database and port, runs pinned to the first
core (load generators get the others) and is measured as a process tree: a
gunicorn master and its workers count together.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from report import GRANIAN_SERVICE
from uv import find_uv_bin

REPO = Path(__file__).resolve().parent.parent
# The bench finds the services' interpreters exactly as the tests do.
sys.path.insert(0, str(REPO))
from tests.generated import Project, render  # noqa: E402
from tests.interpreters import with_interpreters  # noqa: E402

# The uv this bench runs under: a bare "uv" may be a pyenv shim that picks
# the service's Python (from .python-version) and finds no uv there.
UV = find_uv_bin()

PEERS = REPO / "bench" / "peers"
HOST = "127.0.0.1"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"

# The bench serves the rendered service through a module of its own beside it,
# so the generated source stays as rendered: the same app from the service's
# own factory, plus the 50 ms-of-awaited-I/O endpoint every peer has (a
# stand-in for a slow upstream). ``python -m bench_entry`` runs the
# service's own ``main()`` (settings, Hypercorn, signals) on that app.
BENCH_SERVICE = '''\
"""Added by bench/: the service's app plus /bench/io and /bench/slow, served by
its own main()."""

import asyncio
import sys

from quart import Blueprint, Quart

import {package}.__main__ as service_main
from {package} import create_app as create_service

bp = Blueprint("bench_io", __name__)


@bp.get("/bench/io")
async def slow_io() -> dict[str, str]:
    """Answer after 50 ms of awaited I/O."""
    await asyncio.sleep(0.05)
    return {{"status": "ok"}}


@bp.get("/bench/slow")
async def slow_upstream() -> dict[str, str]:
    """Answer after 1 s of awaited I/O (a slow upstream)."""
    await asyncio.sleep(1)
    return {{"status": "ok"}}


def create_app() -> Quart:
    """The service's app with the bench's endpoint."""
    app = create_service()
    app.register_blueprint(bp)
    return app


if __name__ == "__main__":
    service_main.create_app = create_app
    sys.exit(service_main.main())
'''
# Where the traced service sends its spans (run.py's otlp_sink answers them).
OTLP_SINK_PORT = 8199
BENCH_MODULE = "bench_entry"  # not the package: "Bench Service" is bench_service

# Installed beside the rendered service only to measure the same app on them.
ALTERNATIVE_SERVERS = ["uvicorn[standard]>=0.32"]

PEER_SCHEMA = """
CREATE TABLE messages (
    id BIGSERIAL PRIMARY KEY,
    text VARCHAR(2000) NOT NULL,
    created_at TIMESTAMP NOT NULL
)
"""


@dataclass
class Server:
    """One server: how to start it and what it speaks."""

    name: str
    command: list[str]
    cwd: Path
    port: int
    database: str
    env: dict[str, str] = field(default_factory=dict)
    realtime: bool = False
    h2c: bool = False
    migrates_itself: bool = False
    keep_alive: bool = True  # gunicorn's sync workers close every connection
    api: bool = True  # the messages API (the bare apps have only JSON and I/O)
    description: str = ""
    pinned: bool = True  # to core 0; a smoke run lets its servers share every core
    optional: bool = False  # run only when --servers names it
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def spawn(
        self, port: int | None = None, log: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """Start the server (on *port*, default its own) pinned to core 0."""
        port = port or self.port
        env = {**os.environ, **self.env, "PORT": str(port)}
        # The service's metrics port, 1000 above each instance's own port.
        env = {k: v.replace("{metrics_port}", str(port + 1000)) for k, v in env.items()}
        env.pop("VIRTUAL_ENV", None)
        # Start from compiled bytecode, as a deployed image does (uv sync
        # --compile-bytecode below; UV_COMPILE_BYTECODE in the Dockerfile).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        command = [part.replace("{port}", str(port)) for part in self.command]
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        try:
            return subprocess.Popen(
                [*(pin(0) if self.pinned else []), *command],
                cwd=self.cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if log:
                out.close()

    def start(self, log: Path) -> None:
        if answers(self.port, timeout=0.5) is not None:
            raise RuntimeError(
                f"{self.name}: something already answers on port {self.port} "
                "(a server left over from another run?): stop it first"
            )
        self.process = self.spawn(log=log)
        wait_ready(self, self.port, timeout=60)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


def pin(core: int) -> list[str]:
    """A ``taskset`` prefix pinning to *core* (the load side gets the rest)."""
    cpus = os.cpu_count() or 1
    if cpus < 2 or shutil.which("taskset") is None:
        return []
    cores = str(core) if core == 0 else f"1-{cpus - 1}"
    return ["taskset", "-c", cores]


def answers(port: int, path: str = "/health/live", timeout: float = 1.0) -> int | None:
    """The status *path* answers with, or None when nothing answers."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


def wait_ready(server: Server, port: int, timeout: float) -> float:
    """Seconds until *server* answers 200 on /health/live; raise if it never does."""
    started = time.perf_counter()
    process = server.process
    while time.perf_counter() - started < timeout:
        if answers(port, timeout=0.5) == 200:
            return time.perf_counter() - started
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {process.returncode}")
        time.sleep(0.005)
    raise RuntimeError(f"{server.name} did not answer on port {port} in {timeout}s")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM the server's process group, then SIGKILL after *timeout*."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def tree(pid: int) -> list[psutil.Process]:
    """The process *pid* and all its descendants."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def rss(pid: int) -> int:
    """Resident memory summed over the process tree, in bytes."""
    total = 0
    for process in tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += process.memory_info().rss
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds summed over the process tree."""
    total = 0.0
    for process in tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


class Usage:
    """Peak memory and CPU time of a server's process tree while a block runs."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        self.pid, self.every = pid, every
        self.peak_rss = 0
        self.cpu = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_rss = max(self.peak_rss, rss(self.pid))
            self._stop.wait(self.every)

    def __enter__(self) -> Usage:
        self._cpu_before = cpu_seconds(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_rss = max(self.peak_rss, rss(self.pid))
        self.cpu = cpu_seconds(self.pid) - self._cpu_before


def run(
    command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> None:
    """Run a set-up command, showing its output only when it fails."""
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
        )


def render_service(dest: Path, data: dict[str, str | bool], ref: str = "HEAD") -> str:
    """Render the template at *ref* into *dest* and add the bench's module
    beside it (:data:`BENCH_SERVICE`); return the package name.

    ``HEAD`` includes uncommitted changes (Copier copies a dirty working tree).
    """
    if dest.exists():
        shutil.rmtree(dest)
    package = Project(render(REPO, dest, data, vcs_ref=ref)).package
    (dest / f"{BENCH_MODULE}.py").write_text(
        BENCH_SERVICE.format(package=package), encoding="utf-8"
    )
    return package


def install(
    project: Path,
    python: str,
    extra: Sequence[str] = (),
    extras: Sequence[str] = (),
) -> Path:
    """``uv sync`` *project* (no dev tools, its *extras*) and add the packages
    *extra*; return its python."""
    env = with_interpreters({**os.environ})
    env.pop("VIRTUAL_ENV", None)
    sync = [UV, "sync", "--quiet", "--no-dev", "--compile-bytecode"]
    run(
        [*sync, *(f"--extra={name}" for name in extras), "--python", python],
        cwd=project,
        env=env,
    )
    venv_python = project.resolve() / ".venv" / "bin" / "python"
    if extra:
        pip = [UV, "pip", "install", "--quiet", "--compile-bytecode"]
        run([*pip, "--python", str(venv_python), *extra], env=env)
    return venv_python


def install_all(service: Path, python: str) -> None:
    """Install the service (plus the alternative servers) and the peers."""
    install(service, python, ALTERNATIVE_SERVERS, extras=["tracing"])
    install(PEERS, python)


def compared_service(base: Server, service: Path, ref: str, port: int) -> Server:
    """*base* (the service, on Hypercorn or Granian), rendered from the
    template at *ref* instead, served on *port*."""
    python = service.resolve() / ".venv" / "bin" / "python"
    database = f"{base.database}_compared"
    return Server(
        f"{base.name}@{ref}",
        [str(python), *base.command[1:]],
        service.resolve(),
        port,
        database,
        {**base.env, "DATABASE_URL": f"postgresql://postgres@{HOST}:5432/{database}"},
        realtime=base.realtime,
        h2c=base.h2c,
        migrates_itself=True,
        description=f"the same service rendered from the template at `{ref}`",
    )


def make_servers(
    service: Path,
    package: str,
    pool_size: int,
    database_prefix: str = "bench",
    granian_service: Path | None = None,
) -> list[Server]:
    """The rendered service (as users run it, and on uvicorn), the same
    answers rendered with ``server=granian`` (*granian_service*, when given)
    and the peers; each gets the database *database_prefix*_<its name>."""
    service_python = service.resolve() / ".venv" / "bin" / "python"
    peer_python = PEERS / ".venv" / "bin" / "python"
    bin_dir = peer_python.parent
    # METRICS_PORT is bound by Hypercorn only; on the other servers the app
    # counts its requests all the same (see Server.spawn).
    service_env = {
        "METRICS_PORT": "{metrics_port}",
        "APP_ENV": "production",
        "SECRET_KEY": "bench-" + "x" * 32,
        "AUTO_MIGRATE": "true",
        "DB_POOL_SIZE": str(pool_size),
    }
    peer_env = {"DB_POOL_SIZE": str(pool_size)}
    workers = 2 * (os.cpu_count() or 1) + 1
    servers = [
        Server(
            "quart-service",
            [str(service_python), "-m", BENCH_MODULE],
            service,
            8101,
            f"{database_prefix}_quart_service",
            service_env,
            realtime=True,
            h2c=True,
            migrates_itself=True,
            description=(
                f"the generated service: `{package}.__main__.main()` (Hypercorn, "
                "1 process)"
            ),
        ),
        Server(
            "quart-service-no-metrics",
            [str(service_python), "-m", BENCH_MODULE],
            service,
            8110,
            f"{database_prefix}_quart_service_no_metrics",
            {**service_env, "METRICS_PORT": "0"},
            realtime=True,
            h2c=True,
            migrates_itself=True,
            optional=True,
            description=(
                "the generated service with metrics off (`METRICS_PORT=0`): "
                "what counting the requests costs"
            ),
        ),
        Server(
            "quart-service-traced",
            [str(service_python), "-m", BENCH_MODULE],
            service,
            8111,
            f"{database_prefix}_quart_service_traced",
            {
                **service_env,
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{HOST}:{OTLP_SINK_PORT}",
            },
            realtime=True,
            h2c=True,
            migrates_itself=True,
            optional=True,
            description=(
                "the generated service tracing every request (OpenTelemetry, "
                "OTLP/HTTP to a sink in the bench): what tracing costs"
            ),
        ),
        Server(
            "quart-service-uvicorn",
            [
                str(service_python),
                "-m",
                "uvicorn",
                "--factory",
                f"{BENCH_MODULE}:create_app",
                "--host",
                HOST,
                "--port",
                "{port}",
                "--no-access-log",
                "--timeout-graceful-shutdown",
                "5",
            ],
            service,
            8102,
            f"{database_prefix}_quart_service_uvicorn",
            service_env,
            realtime=True,
            migrates_itself=True,
            description="the same generated app on uvicorn (the measured alternative)",
        ),
        *(
            [
                Server(
                    GRANIAN_SERVICE,
                    [
                        str(granian_service.resolve() / ".venv" / "bin" / "python"),
                        "-m",
                        BENCH_MODULE,
                    ],
                    granian_service,
                    8106,
                    f"{database_prefix}_quart_service_granian",
                    service_env,
                    realtime=True,
                    h2c=True,
                    migrates_itself=True,
                    description=(
                        "the service rendered with `server=granian`: "
                        f"`{package}.__main__.main()` (Granian embedded, 1 process)"
                    ),
                )
            ]
            if granian_service is not None
            else []
        ),
        Server(
            "bare-quart-schema",
            [str(peer_python), "bare_quart.py", "--schema"],
            PEERS,
            8108,
            f"{database_prefix}_bare_quart_schema",
            peer_env,
            h2c=True,
            api=False,
            description=(
                "bare Quart + quart-schema returning a pydantic model, on the "
                "service's server (`hypercorn.asyncio.serve`, uvloop, 1 process): "
                "the yardstick for the template's own cost per request"
            ),
        ),
        Server(
            "bare-quart-schema-granian",
            [str(peer_python), "bare_quart.py", "--schema", "--granian"],
            PEERS,
            8112,
            f"{database_prefix}_bare_quart_schema_granian",
            peer_env,
            h2c=True,
            api=False,
            description=(
                "the same on an embedded Granian (uvloop, 1 process), as the "
                "service rendered with `server=granian` serves itself: the "
                "yardstick for that rendering"
            ),
        ),
        Server(
            "bare-quart",
            [str(peer_python), "bare_quart.py"],
            PEERS,
            8109,
            f"{database_prefix}_bare_quart",
            peer_env,
            h2c=True,
            api=False,
            description="bare Quart returning a dict, on the same server",
        ),
        Server(
            "fastapi-uvicorn",
            [
                str(bin_dir / "uvicorn"),
                "fastapi_app:app",
                "--host",
                HOST,
                "--port",
                "{port}",
            ],
            PEERS,
            8103,
            f"{database_prefix}_fastapi_uvicorn",
            peer_env,
            realtime=True,
            description="FastAPI on uvicorn[standard], 1 process, asyncpg",
        ),
        Server(
            "flask-gunicorn-gthread",
            [
                str(bin_dir / "gunicorn"),
                "flask_app:app",
                "-b",
                f"{HOST}:{{port}}",
                "-w",
                "1",
                "-k",
                "gthread",
                "--threads",
                "100",
            ],
            PEERS,
            8104,
            f"{database_prefix}_flask_gunicorn_gthread",
            peer_env,
            description="Flask on gunicorn, 1 gthread worker x 100 threads, psycopg",
        ),
        Server(
            "flask-gunicorn-sync",
            [
                str(bin_dir / "gunicorn"),
                "flask_app:app",
                "-b",
                f"{HOST}:{{port}}",
                "-w",
                str(workers),
                "-k",
                "sync",
            ],
            PEERS,
            8105,
            f"{database_prefix}_flask_gunicorn_sync",
            # A sync worker serves one request at a time: the pool is shared out.
            {"DB_POOL_SIZE": str(-(-pool_size // workers))},
            keep_alive=False,
            description=(
                f"Flask on gunicorn, {workers} sync workers (2 x cores + 1), psycopg "
                f"(the pool of {pool_size} shared out among them)"
            ),
        ),
    ]
    for server in servers:
        server.env = {**server.env}  # each its own: the database differs
        server.env["DATABASE_URL"] = (
            f"postgresql://postgres@{HOST}:5432/{server.database}"
        )
    return servers


def create_databases(servers: list[Server]) -> None:
    """A fresh database per server; the peers get the service's table."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        for server in servers:
            admin.execute(f'DROP DATABASE IF EXISTS "{server.database}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{server.database}"')
    for server in servers:
        if not server.migrates_itself:
            with psycopg.connect(server.env["DATABASE_URL"], autocommit=True) as db:
                db.execute(PEER_SCHEMA)


def seed(server: Server, count: int) -> None:
    """Give every server's table the same *count* messages to page through."""
    import psycopg

    with psycopg.connect(server.env["DATABASE_URL"], autocommit=True) as db:
        db.execute(
            "INSERT INTO messages (text, created_at) "
            "SELECT 'seed message ' || n, now() FROM generate_series(1, %s) AS n",
            (count,),
        )


def drop_databases(servers: list[Server]) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        for server in servers:
            admin.execute(f'DROP DATABASE IF EXISTS "{server.database}" WITH (FORCE)')
