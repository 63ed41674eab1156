"""The FastAPI peer: the generated service's endpoints, written the FastAPI way.

Run as users run it: ``uvicorn fastapi_app:app`` (uvloop and httptools come
with ``uvicorn[standard]``). PostgreSQL through an asyncpg pool of
``DB_POOL_SIZE`` connections; realtime fan-out through one in-process queue
per subscriber, as in the service's memory broker.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
from fastapi import FastAPI, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

POOL_SIZE = int(os.environ.get("DB_POOL_SIZE", "10"))
QUEUE_SIZE = 256


class MessageIn(BaseModel):
    text: str = Field(min_length=1, max_length=2000, pattern=r"^[^\x00]*$")


class Message(BaseModel):
    id: int
    text: str
    created_at: datetime


class MessagePage(BaseModel):
    messages: list[Message]
    next_before: int | None


class Broker:
    """Every subscriber gets every message; a full queue drops the subscriber."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[Message | None]] = set()

    def publish(self, message: Message) -> None:
        for queue in list(self.queues):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:  # too slow: make room for the close signal
                self.queues.discard(queue)
                queue.get_nowait()
                queue.put_nowait(None)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Message | None]]:
        queue: asyncio.Queue[Message | None] = asyncio.Queue(QUEUE_SIZE)
        self.queues.add(queue)
        try:
            yield queue
        finally:
            self.queues.discard(queue)


broker = Broker()
pool: asyncpg.Pool | None = None


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    global pool
    pool = await asyncpg.create_pool(
        os.environ["DATABASE_URL"], min_size=POOL_SIZE, max_size=POOL_SIZE
    )
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/bench/io")
async def io() -> dict[str, str]:
    await asyncio.sleep(0.05)
    return {"status": "ok"}


@app.get("/bench/slow")
async def slow() -> dict[str, str]:
    await asyncio.sleep(1)
    return {"status": "ok"}


@app.get("/api/messages")
async def list_messages(
    limit: int = Query(50, ge=1, le=200), before: int | None = Query(None, ge=1)
) -> MessagePage:
    assert pool is not None
    if before is None:
        rows = await pool.fetch(
            "SELECT id, text, created_at FROM messages ORDER BY id DESC LIMIT $1",
            limit + 1,
        )
    else:
        rows = await pool.fetch(
            "SELECT id, text, created_at FROM messages WHERE id < $1 "
            "ORDER BY id DESC LIMIT $2",
            before,
            limit + 1,
        )
    messages = [
        Message(
            id=r["id"], text=r["text"], created_at=r["created_at"].replace(tzinfo=UTC)
        )
        for r in rows[:limit]
    ]
    has_more = len(rows) > limit
    return MessagePage(
        messages=messages, next_before=messages[-1].id if has_more else None
    )


@app.post("/api/messages", status_code=201)
async def create_message(data: MessageIn) -> Message:
    assert pool is not None
    created_at = datetime.now(UTC)
    message_id = await pool.fetchval(
        "INSERT INTO messages (text, created_at) VALUES ($1, $2) RETURNING id",
        data.text,
        created_at.replace(tzinfo=None),
    )
    message = Message(id=message_id, text=data.text, created_at=created_at)
    broker.publish(message)
    return message


def format_event(message: Message) -> str:
    return f"id: {message.id}\nevent: message\ndata: {message.model_dump_json()}\n\n"


@app.get("/events")
async def events() -> StreamingResponse:
    async def stream() -> AsyncIterator[str]:
        async with broker.subscribe() as queue:
            yield "retry: 2000\n\n"
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), 15)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if message is None:
                    return
                yield format_event(message)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@app.websocket("/ws")
async def socket(ws: WebSocket) -> None:
    await ws.accept()
    async with broker.subscribe() as queue:
        try:
            while True:
                message = await queue.get()
                if message is None:
                    await ws.close(1008)
                    return
                await ws.send_text(
                    json.dumps(
                        {"type": "message", "data": message.model_dump(mode="json")}
                    )
                )
        except WebSocketDisconnect:
            return
