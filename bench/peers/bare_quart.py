"""Bare Quart: the yardstick for what the generated service's own code costs.

Two apps with only the endpoints the JSON and I/O scenarios load, served as
the service serves itself (``hypercorn.asyncio.serve`` in one process, on
uvloop, HTTP/1.1 and h2c): ``python bare_quart.py`` returns a dict from
``/health/live``; ``python bare_quart.py --schema`` returns a pydantic model
through quart-schema, as the service does. The service over these is the
cost of everything the template adds per request (hooks, headers, request
ids, the access log, error handling).
"""

from __future__ import annotations

import asyncio
import os
import sys

import uvloop
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
    config = Config()
    config.bind = [f"127.0.0.1:{os.environ.get('PORT', '8000')}"]
    config.graceful_timeout = 5
    uvloop.run(serve(create_app("--schema" in sys.argv), config))


if __name__ == "__main__":
    main()
