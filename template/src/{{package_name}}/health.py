"""Health checks for load balancers and orchestrators.

``/health/live`` says the process is up and its event loop answers: restart
the process when it fails. ``/health/ready`` says every dependency answers:
stop sending traffic while it fails. A dependency registers a check with
:func:`add_readiness_check`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from pydantic import BaseModel
from quart import Blueprint, Quart, current_app
from quart_schema import document_response, tag

from .lifecycle import is_shutting_down

logger = logging.getLogger(__name__)

bp = Blueprint("health", __name__, url_prefix="/health")

ReadinessCheck = Callable[[], Awaitable[None]]
CHECK_TIMEOUT = 2.0


class Liveness(BaseModel):
    """Body of ``/health/live``."""

    status: str


class Readiness(BaseModel):
    """Body of ``/health/ready``: overall status and one entry per dependency."""

    status: str
    checks: dict[str, str]


def add_readiness_check(app: Quart, name: str, check: ReadinessCheck) -> None:
    """Make ``/health/ready`` call *check*; it must raise when *name* is down."""
    app.extensions.setdefault("readiness_checks", {})[name] = check


async def _run_check(check: ReadinessCheck) -> str:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT)
    except TimeoutError:
        return f"error: no answer within {CHECK_TIMEOUT:g}s"
    except Exception as error:  # noqa: BLE001 - any failure means "not ready"
        summary = str(error).partition("\n")[0]  # drivers add pages of detail
        return f"error: {type(error).__name__}: {summary}"
    return "ok"


# A model is a valid view result with quart-schema, not to Flask's types
# (quart-schema issue #91), hence the type: ignore on these routes.
@bp.get("/live")  # type: ignore[type-var]
@tag(["health"])
@document_response(Liveness, 200)
async def live() -> Liveness:
    """Report that the process is alive."""
    return Liveness(status="ok")


@bp.get("/ready")  # type: ignore[type-var]
@tag(["health"])
@document_response(Readiness, 200)
@document_response(Readiness, 503)
async def ready() -> Readiness | tuple[Readiness, int]:
    """Report whether every dependency answers; 503 names the ones that do not."""
    checks: dict[str, ReadinessCheck] = current_app.extensions.get(
        "readiness_checks", {}
    )
    results = await asyncio.gather(*(_run_check(check) for check in checks.values()))
    report = dict(zip(checks, results, strict=True))
    if is_shutting_down(current_app):
        report["server"] = "error: shutting down"
    if all(result == "ok" for result in report.values()):
        return Readiness(status="ok", checks=report)
    logger.warning("not ready", extra={"checks": report})
    return Readiness(status="unavailable", checks=report), 503
