"""Shutdown draining: what the app does between SIGTERM and its last response.

Hypercorn stops accepting connections on SIGTERM but waits for open ones to
finish. Long-lived responses (a WebSocket, an event stream) never finish by
themselves, so parts of the app register a *drain* callback here that tells
them to end; ``/health/ready`` turns 503 at the same moment, so a load
balancer stops sending new traffic.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from quart import Quart

logger = logging.getLogger(__name__)


def add_drain_callback(app: Quart, callback: Callable[[], None]) -> None:
    """Call *callback* when the server begins to shut down."""
    app.extensions.setdefault("drain_callbacks", []).append(callback)


def begin_shutdown(app: Quart) -> None:
    """Mark *app* as shutting down and run every drain callback once."""
    if is_shutting_down(app):
        return
    app.extensions["shutting_down"] = True
    for callback in app.extensions.get("drain_callbacks", []):
        callback()


def is_shutting_down(app: Quart) -> bool:
    """Whether :func:`begin_shutdown` has run."""
    return bool(app.extensions.get("shutting_down"))
