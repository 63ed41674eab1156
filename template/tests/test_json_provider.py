"""JSON answers through pydantic-core (see ``json_provider.py``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from pydantic import BaseModel
from quart import Quart


class Point(BaseModel):
    x: int
    y: int


async def test_answers_keep_key_order_utf8_and_iso_dates(app: Quart) -> None:
    @app.get("/sample")
    async def sample() -> dict[str, object]:
        return {
            "zeta": 1,
            "alpha": "héllo ✓",
            "when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            "price": Decimal("1.50"),
            "point": Point(x=1, y=2),
        }

    response = await app.test_client().get("/sample")
    body = await response.get_data(as_text=True)
    assert body.startswith('{"zeta":1,"alpha":"héllo ✓"')
    assert json.loads(body) == {
        "zeta": 1,
        "alpha": "héllo ✓",
        "when": "2026-01-02T03:04:05Z",
        "price": "1.50",
        "point": {"x": 1, "y": 2},
    }


def test_options_such_as_indent_use_the_json_module(app: Quart) -> None:
    assert app.json.dumps({"b": 1, "a": [1]}, indent=2) == (
        '{\n  "a": [\n    1\n  ],\n  "b": 1\n}'
    )
