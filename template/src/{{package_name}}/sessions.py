"""Flask's signed-cookie sessions, at no cost to requests that do not use them.

Quart, like Flask, opens the session of every request and saves it after the
response: it derives a signing key from ``SECRET_KEY`` and reads seven cookie
settings even when the client sent no cookie and nothing was stored, a
tenth of what a small JSON answer costs. Here both steps are skipped when
there is nothing to read or write; the answer is the same (Quart marks every
session as read, so every answer varies by ``Cookie``). The service's own
endpoints use no session; a page that does (``session["cart"] = ...``,
``flash``) works exactly as in Flask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quart.sessions import SecureCookieSession, SecureCookieSessionInterface

from .hooks import first_header

if TYPE_CHECKING:
    from quart import Quart, Response
    from quart.sessions import SessionMixin
    from quart.wrappers import BaseRequestWebsocket
    from werkzeug.wrappers import Response as WerkzeugResponse


class LazySessionInterface(SecureCookieSessionInterface):
    """Signed-cookie sessions that skip the signer when there is no cookie."""

    async def open_session(
        self, app: Quart, request: BaseRequestWebsocket
    ) -> SecureCookieSession | None:
        """An empty session when the request has no cookie, else Quart's."""
        if app.secret_key and first_header(request.headers, "Cookie") is None:
            return self.session_class()
        return await super().open_session(app, request)

    async def save_session(
        self,
        app: Quart,
        session: SessionMixin,
        response: Response | WerkzeugResponse | None,
    ) -> None:
        """Save the session, unless it is empty and was never changed."""
        if session or session.modified:
            await super().save_session(app, session, response)
        elif session.accessed and response is not None:
            # What ``response.vary.add("Cookie")`` does, without parsing and
            # rewriting the header when there is none yet (a tenth the time).
            if first_header(response.headers, "Vary") is not None:
                response.vary.add("Cookie")
            else:
                response.headers["Vary"] = "Cookie"


def init_app(app: Quart) -> None:
    """Give *app* sessions that cost nothing until a request uses one."""
    app.session_interface = LazySessionInterface()
