"""Request hooks: request ids, security headers and one log line per request."""

from __future__ import annotations

import logging
import re
import time
import uuid

from quart import Quart, Response, g, request

logger = logging.getLogger(__name__)

# An incoming X-Request-ID is kept only if it is short and printable, so a
# client cannot inject log lines or huge values through it.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


async def assign_request_id() -> None:
    """Honour a well-formed incoming ``X-Request-ID``, else make one."""
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    g.started = time.perf_counter()


async def finish_response(response: Response) -> Response:
    """Add the request id and security headers, and log the request."""
    response.headers["X-Request-ID"] = g.request_id
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    logger.info(
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "request_id": g.request_id,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - g.started) * 1000, 2),
            "http_version": request.http_version,
        },
    )
    return response


def register_hooks(app: Quart) -> None:
    """Attach the before/after request hooks to *app*."""
    app.before_request(assign_request_id)
    app.after_request(finish_response)
