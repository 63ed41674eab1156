"""Where messages live: the store interface and its bounded in-memory version.

The API blueprint talks only to :class:`MessageStore`, so another backend
(a database, say) slots in behind the same routes.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Protocol

from .schemas import Message


class MessageStore(Protocol):
    """The operations the messages API needs from a store."""

    async def add(self, text: str) -> Message:
        """Store a new message and return it with its id and timestamp."""
        ...

    async def get(self, message_id: int) -> Message | None:
        """Return the message with *message_id*, or None."""
        ...

    async def page(self, limit: int, before: int | None = None) -> list[Message]:
        """Return up to *limit* messages older than *before*, newest first."""
        ...

    async def check(self) -> None:
        """Raise if the store cannot serve requests (used by readiness)."""
        ...


class MemoryMessageStore:
    """Keeps the newest *max_messages* messages in process memory.

    Ids keep increasing even when old messages are evicted, so an id is never
    reused and clients can page by id. Contents are lost on restart.
    """

    def __init__(self, max_messages: int) -> None:
        self._max_messages = max_messages
        self._messages: OrderedDict[int, Message] = OrderedDict()
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()

    async def add(self, text: str) -> Message:
        """Store *text* as the newest message, evicting the oldest when full."""
        async with self._lock:
            message = Message(
                id=next(self._ids), text=text, created_at=datetime.now(UTC)
            )
            self._messages[message.id] = message
            while len(self._messages) > self._max_messages:
                self._messages.popitem(last=False)
            return message

    async def get(self, message_id: int) -> Message | None:
        """Return the message with *message_id*, or None if absent or evicted."""
        return self._messages.get(message_id)

    async def page(self, limit: int, before: int | None = None) -> list[Message]:
        """Return up to *limit* messages with ids below *before*, newest first."""
        newest_first = reversed(self._messages.values())
        if before is not None:
            newest_first = (m for m in newest_first if m.id < before)
        return list(itertools.islice(newest_first, limit))

    async def check(self) -> None:
        """Memory is always available."""
