"""The shapes of the messages API, validated and documented by quart-schema."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

MESSAGE_MAX_LENGTH = 2000
# Ids are 64-bit integers in every store; a larger number names no message.
MAX_MESSAGE_ID = 2**63 - 1


class MessageIn(BaseModel):
    """What a client sends to create a message."""

    model_config = ConfigDict(extra="forbid")

    # NUL is the one character no database stores in text: refuse it here.
    text: str = Field(
        min_length=1, max_length=MESSAGE_MAX_LENGTH, pattern=r"^[^\x00]*$"
    )


class Message(BaseModel):
    """A stored message.

    Frozen, so it is hashable: the realtime endpoints encode each message once
    however many clients it goes to (see ``sse.format_event``).
    """

    model_config = ConfigDict(frozen=True)

    id: int = Field(ge=1, le=MAX_MESSAGE_ID)
    text: str
    created_at: datetime


class MessagePage(BaseModel):
    """A page of messages, newest first.

    ``next_before`` is the ``before`` value that fetches the next (older) page,
    or null when this page is the last one.
    """

    messages: list[Message]
    next_before: int | None = None


class PageQuery(BaseModel):
    """Query string of ``GET /api/messages``."""

    limit: int = Field(default=50, ge=1, le=200)
    before: int | None = Field(default=None, ge=1, le=MAX_MESSAGE_ID)
