"""Bare Quart: the yardstick for what the generated service's own code costs.

Two apps with only the endpoints the JSON and I/O scenarios load, served as
the service serves itself (``hypercorn.asyncio.serve`` in one process, on
uvloop, HTTP/1.1 and h2c): ``python bare_quart.py`` returns a dict from
``/health/live``; ``python bare_quart.py --schema`` returns a pydantic model
through quart-schema, as the service does. ``--granian`` serves the app with
an embedded Granian instead, as the service rendered with ``server=granian``
serves itself. The service over these is the cost of everything the
template adds per request (hooks, headers, request ids, the access log,
error handling).
"""

from __future__ import annotations

import asyncio
import os
import sys

import uvloop
from granian.constants import HTTPModes, Interfaces
from granian.server.embed import Server
from hypercorn.asyncio import serve
from hypercorn.config import Config
from pydantic import BaseModel
from quart import Quart
from quart_schema import QuartSchema


class Liveness(BaseModel):
    status: str


def create_app(schema: bool) -> Quart:
    """The bare app, returning a pydantic model through quart-schema with
    *schema*, else a dict."""
    app = Quart(__name__)
    if schema:
        QuartSchema(app)

        @app.get("/health/live")
        async def live_model() -> Liveness:
            return Liveness(status="ok")

    else:

        @app.get("/health/live")
        async def live() -> dict[str, str]:
            return {"status": "ok"}

    @app.get("/bench/io")
    async def slow_io() -> dict[str, str]:
        await asyncio.sleep(0.05)
        return {"status": "ok"}

    @app.get("/bench/slow")
    async def slow_upstream() -> dict[str, str]:
        await asyncio.sleep(1)
        return {"status": "ok"}

    return app


def main() -> None:
    app = create_app("--schema" in sys.argv)
    port = int(os.environ.get("PORT", "8000"))
    if "--granian" in sys.argv:
        # The limits the service's own granian.toml sets: Granian's default
        # backpressure (backlog // workers = 128) would cap the requests in
        # flight at 128, a tenth of what the slow-upstream scenario opens.
        server = Server(
            app,
            port=port,
            interface=Interfaces.ASGINL,
            http=HTTPModes.auto,
            backlog=1024,
            backpressure=10000,
        )
        uvloop.run(server.serve())
        return
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.graceful_timeout = 5
    config.backlog = 1024  # as the service's hypercorn.toml
    uvloop.run(serve(app, config))


if __name__ == "__main__":
    main()
