"""Serve the app under Hypercorn in this one process.

Hypercorn's command line starts a supervisor, a resource tracker and a worker
(three processes); ``hypercorn.asyncio.serve`` runs the same server in one.
Serving here also keeps shutdown in our hands: Hypercorn waits for open
connections without a bound on Python >= 3.12 (hypercorn issue #308), so
after SIGTERM or SIGINT the server gets ``GRACEFUL_TIMEOUT`` seconds and is
then cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hypercorn.asyncio import serve
from hypercorn.config import Config

if TYPE_CHECKING:
    from quart import Quart

logger = logging.getLogger(__name__)


def hypercorn_config(app: Quart) -> Config:
    """Load ``hypercorn.toml`` (if present) and apply the app's settings."""
    path = Path(app.config["HYPERCORN_CONFIG"])
    config = Config.from_toml(path) if path.is_file() else Config()
    config.bind = [f"{app.config['HOST']}:{app.config['PORT']}"]
    config.graceful_timeout = app.config["GRACEFUL_TIMEOUT"]
    # Hypercorn logs through the app's handlers and format (see logs.py).
    config.errorlog = logging.getLogger("hypercorn.error")
    return config


async def serve_app(app: Quart, config: Config) -> None:
    """Serve *app* until SIGTERM or SIGINT, then stop within the grace period."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    async def shutdown_trigger() -> None:
        await stop.wait()
        app.extensions["shutting_down"] = True
        logger.info("shutting down", extra={"grace_seconds": config.graceful_timeout})

    server = asyncio.create_task(
        serve(app, config, shutdown_trigger=shutdown_trigger)  # type: ignore[arg-type]
    )
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({server, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if server.done():
        stopping.cancel()
        server.result()  # re-raises a start-up failure, such as a port in use
        return
    try:
        # Hypercorn's own grace period plus a moment for the app's shutdown.
        await asyncio.wait_for(server, config.graceful_timeout + 1)
    except TimeoutError:
        logger.warning("grace period over, open connections were dropped")


def run(app: Quart, config: Config) -> None:
    """Run the server on uvloop when it is installed, else on asyncio's loop."""
    loop_factory: Any = None
    try:
        import uvloop  # optional: absent on Windows

        loop_factory = uvloop.new_event_loop
    except ImportError:
        pass
    asyncio.run(serve_app(app, config), loop_factory=loop_factory)
