"""The HTML pages, rendered with Jinja templates."""

from __future__ import annotations

from quart import Blueprint, render_template
from quart_schema import hide

from .messages import get_store

bp = Blueprint("pages", __name__)

RECENT_MESSAGES = 20


@bp.get("/")
@hide
async def index() -> str:
    """Show the newest messages and a form to post one."""
    messages = await get_store().page(RECENT_MESSAGES)
    return await render_template("index.html", messages=messages)
