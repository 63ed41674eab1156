"""JSON errors everywhere: no HTML error page or traceback ever reaches a client.

Flask teams know ``errorhandler``; here one handler covers every
:class:`~werkzeug.exceptions.HTTPException`, one turns schema validation
failures into 422 with the field errors, and one turns any unhandled exception
into a 500 whose body says nothing about the internals (Quart logs it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from quart import Quart, Request, Response, g, jsonify, request
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    InternalServerError,
    MethodNotAllowed,
    RequestEntityTooLarge,
)
from werkzeug.http import HTTP_STATUS_CODES

if TYPE_CHECKING:
    from collections.abc import Iterable

    from hypercorn.typing import ASGISendCallable


class AmbiguousBodyLength(BadRequest):
    """A request framed two ways (``Content-Length`` and ``Transfer-Encoding``).

    Servers and proxies that disagree on which one wins let an attacker hide
    a second request in the body (request smuggling); RFC 9112, section 6.1,
    says to close the connection after answering such a request.
    """

    description = (
        "A request may not carry both Content-Length and Transfer-Encoding "
        "(RFC 9112, section 6.1)."
    )


# Errors after which the connection cannot be trusted with another request.
CLOSES_CONNECTION = (RequestEntityTooLarge, AmbiguousBodyLength)


class Error(BaseModel):
    """The body of every error response (documented in the OpenAPI schema)."""

    status: int
    error: str
    message: str
    request_id: str | None = None
    details: list[dict[str, Any]] | None = None


class JSONRequest(Request):
    """A request whose malformed JSON body is a 400 that says so."""

    async def get_json(
        self, force: bool = False, silent: bool = False, cache: bool = True
    ) -> Any:
        """Parse the body as JSON; a body that is not UTF-8, or nested past
        the parser's depth (``[[[[...`` under ``MAX_CONTENT_LENGTH``), is
        malformed too."""
        try:
            return await super().get_json(force=force, silent=silent, cache=cache)
        except (UnicodeDecodeError, RecursionError) as error:
            if silent:
                return None
            return self.on_json_loading_failed(error)

    def on_json_loading_failed(self, error: Exception) -> Any:
        """Raise a 400 naming the JSON syntax error."""
        if isinstance(error, RecursionError):
            raise BadRequest("The request body is not valid JSON: nested too deeply.")
        raise BadRequest(f"The request body is not valid JSON: {error}")


def error_body(
    status: int,
    message: str,
    details: list[dict[str, Any]] | None = None,
    request_id: str | None = None,
) -> Error:
    """The body of the error response for *status* with *message*."""
    return Error(
        status=status,
        error=HTTP_STATUS_CODES.get(status, "Unknown Error"),
        message=message,
        request_id=request_id,
        details=details,
    )


def error_response(
    status: int,
    message: str,
    details: list[dict[str, Any]] | None = None,
) -> Response:
    """Build the JSON error response for *status* with *message*."""
    body = error_body(status, message, details, g.get("request_id"))
    response = jsonify(body.model_dump(exclude_none=True))
    response.status_code = status
    return response


async def send_response(
    send: ASGISendCallable,
    status: int,
    content_type: str,
    body: bytes,
    *,
    headers: Iterable[tuple[bytes, bytes]] = (),
    head: bool = False,
) -> None:
    """Send a whole response straight to the server, for the ASGI layers
    that answer before (or instead of) the app; *head* sends no body but
    keeps its length."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
            "trailers": False,
        }
    )
    body = b"" if head else body
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_error(
    send: ASGISendCallable,
    status: int,
    message: str,
    *,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Send the JSON error :func:`error_response` builds, at the ASGI level
    (no request context there, so no request id)."""
    body = error_body(status, message).model_dump_json(exclude_none=True)
    await send_response(
        send, status, "application/json", body.encode(), headers=headers
    )


async def handle_http_exception(error: HTTPException) -> Response:
    """Render any HTTP error (404, 405, 413, ...) as JSON."""
    response = error_response(error.code or 500, error.description or "")
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    if isinstance(error, CLOSES_CONNECTION) and request.http_version < "2":
        # The unread (or ambiguous) body makes the connection unusable: say
        # so, or the client may send its next request down a connection the
        # server is closing.
        response.headers["Connection"] = "close"
    return response


async def handle_validation_error(error: RequestSchemaValidationError) -> Response:
    """Answer a body or query string that breaks the schema with 422 and why."""
    cause = error.validation_error
    if request.method in {"POST", "PUT", "PATCH"} and not request.is_json:
        return error_response(
            415, "The request body must be JSON (Content-Type: application/json)."
        )
    if isinstance(cause, ValidationError):
        details = [
            {
                "loc": [str(part) for part in item["loc"]],
                "msg": item["msg"],
                "type": item["type"],
            }
            for item in cause.errors(include_url=False, include_input=False)
        ]
        return error_response(422, "The request failed validation.", details)
    return error_response(422, f"The request failed validation: {cause}")


async def handle_internal_error(_: InternalServerError) -> Response:
    """Answer 500 without revealing the cause.

    Quart has already logged the cause, once, with its traceback and (see
    ``logs.py``) the request id, so this handler does not log it again.
    """
    return error_response(500, "The server hit an unexpected error.")


def init_app(app: Quart) -> None:
    """Install the JSON error handlers and the JSON-aware request class."""
    app.request_class = JSONRequest
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(RequestSchemaValidationError, handle_validation_error)
    app.register_error_handler(InternalServerError, handle_internal_error)
