"""The Flask peer: the generated service's HTTP endpoints in plain Flask.

Run as users run it: ``gunicorn flask_app:app`` with sync workers or the
gthread worker. PostgreSQL through a psycopg pool of ``DB_POOL_SIZE``
connections per worker process, made on first use (after gunicorn forks).
No realtime endpoints: 1,000 open streams would need 1,000 threads.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

from flask import Flask, abort, jsonify, request
from psycopg_pool import ConnectionPool

POOL_SIZE = int(os.environ.get("DB_POOL_SIZE", "10"))

app = Flask(__name__)
_pool: ConnectionPool | None = None
_pool_lock = threading.Lock()


def pool() -> ConnectionPool:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ConnectionPool(
                os.environ["DATABASE_URL"],
                min_size=POOL_SIZE,
                max_size=POOL_SIZE,
                open=True,
            )
        return _pool


def to_json(row: tuple[int, str, datetime]) -> dict[str, object]:
    return {
        "id": row[0],
        "text": row[1],
        "created_at": row[2].replace(tzinfo=UTC).isoformat(),
    }


@app.get("/health/live")
def live():
    return {"status": "ok"}


@app.get("/bench/io")
def io():
    time.sleep(0.05)
    return {"status": "ok"}


@app.get("/bench/slow")
def slow():
    time.sleep(1)
    return {"status": "ok"}


@app.get("/api/messages")
def list_messages():
    limit = request.args.get("limit", 50, type=int)
    before = request.args.get("before", None, type=int)
    if not 1 <= limit <= 200 or (before is not None and before < 1):
        abort(422)
    with pool().connection() as conn:
        if before is None:
            rows = conn.execute(
                "SELECT id, text, created_at FROM messages ORDER BY id DESC LIMIT %s",
                (limit + 1,),
            ).fetchall()
        else:
            rows = conn.execute(
                "SELECT id, text, created_at FROM messages WHERE id < %s "
                "ORDER BY id DESC LIMIT %s",
                (before, limit + 1),
            ).fetchall()
    messages = [to_json(row) for row in rows[:limit]]
    has_more = len(rows) > limit
    return {
        "messages": messages,
        "next_before": messages[-1]["id"] if has_more else None,
    }


@app.post("/api/messages")
def create_message():
    data = request.get_json(silent=True)
    text = data.get("text") if isinstance(data, dict) else None
    if not isinstance(text, str) or not 1 <= len(text) <= 2000 or "\x00" in text:
        abort(422)
    created_at = datetime.now(UTC)
    with pool().connection() as conn:
        message_id = conn.execute(
            "INSERT INTO messages (text, created_at) VALUES (%s, %s) RETURNING id",
            (text, created_at.replace(tzinfo=None)),
        ).fetchone()[0]
    return jsonify(to_json((message_id, text, created_at))), 201
