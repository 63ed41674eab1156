"""The JSON messages API: ``/api/messages``."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from quart import Blueprint, abort, current_app
from quart_schema import (
    document_response,
    tag,
    validate_querystring,
    validate_request,
    validate_response,
)

from .errors import Error
from .schemas import Message, MessageIn, MessagePage, PageQuery

if TYPE_CHECKING:
    from .store import MessageStore

bp = Blueprint("messages", __name__, url_prefix="/api/messages")


def get_store() -> MessageStore:
    """Return the app's message store (set up by ``create_app``)."""
    return cast("MessageStore", current_app.extensions["message_store"])


@bp.post("")
@tag(["messages"])
@validate_request(MessageIn)
@validate_response(Message, 201)
@document_response(Error, 400)
@document_response(Error, 413)
@document_response(Error, 415)
@document_response(Error, 422)
async def create_message(data: MessageIn) -> tuple[Message, int]:
    """Create a message."""
    message = await get_store().add(data.text)
    return message, 201


@bp.get("")
@tag(["messages"])
@validate_querystring(PageQuery)
@validate_response(MessagePage, 200)
@document_response(Error, 422)
async def list_messages(query_args: PageQuery) -> MessagePage:
    """List messages, newest first; pass ``before`` to fetch older pages."""
    messages = await get_store().page(query_args.limit + 1, query_args.before)
    has_more = len(messages) > query_args.limit
    messages = messages[: query_args.limit]
    return MessagePage(
        messages=messages,
        next_before=messages[-1].id if has_more else None,
    )


@bp.get("/<int:message_id>")
@tag(["messages"])
@validate_response(Message, 200)
@document_response(Error, 404)
async def get_message(message_id: int) -> Message:
    """Fetch one message by id."""
    message = await get_store().get(message_id)
    if message is None:
        abort(404, f"Message {message_id} does not exist.")
    return message
