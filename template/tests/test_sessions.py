"""Cookie sessions work as in Flask (see ``sessions.py``)."""

from __future__ import annotations

from quart import Quart, session


def add_cart(app: Quart) -> None:
    @app.post("/cart/<item>")
    async def add(item: str) -> dict[str, list[str]]:
        session["cart"] = [*session.get("cart", []), item]
        return {"cart": session["cart"]}

    @app.get("/cart")
    async def show() -> dict[str, list[str]]:
        return {"cart": session.get("cart", [])}


async def test_a_session_round_trips_in_a_signed_cookie(app: Quart) -> None:
    add_cart(app)
    client = app.test_client()
    response = await client.post("/cart/apple")
    assert "session=" in response.headers["Set-Cookie"]
    await client.post("/cart/pear")
    response = await client.get("/cart")
    assert await response.get_json() == {"cart": ["apple", "pear"]}
    assert "Cookie" in response.headers["Vary"]


async def test_a_tampered_cookie_gives_an_empty_session(app: Quart) -> None:
    add_cart(app)
    client = app.test_client()
    await client.post("/cart/apple")
    client.set_cookie("localhost", "session", "forged.value.signature")
    response = await client.get("/cart")
    assert await response.get_json() == {"cart": []}


async def test_requests_without_a_session_set_no_cookie(app: Quart) -> None:
    add_cart(app)
    client = app.test_client()
    response = await client.get("/health/live")
    assert "Set-Cookie" not in response.headers
    response = await client.get("/cart")  # read, not written
    assert "Set-Cookie" not in response.headers
    assert "Cookie" in response.headers["Vary"]


async def test_emptying_a_session_deletes_its_cookie(app: Quart) -> None:
    add_cart(app)

    @app.delete("/cart")
    async def empty() -> dict[str, list[str]]:
        session.clear()
        return {"cart": []}

    client = app.test_client()
    await client.post("/cart/apple")
    response = await client.delete("/cart")
    assert "session=;" in response.headers["Set-Cookie"]
    response = await client.get("/cart")
    assert await response.get_json() == {"cart": []}
