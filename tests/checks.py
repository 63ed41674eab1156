"""Checks of a booted service, shared by the matrix and the harness's own tests."""

from __future__ import annotations

import signal

import httpx
from prometheus_client.parser import text_string_to_metric_families

from .generated import Project, Service


def check_serves_real_clients(project: Project, env: dict[str, str]) -> None:
    """Boot *project* and exercise every route it always has, then SIGTERM it."""
    with project.serve(env) as service:
        check_routes(service)
        check_stops_cleanly(service)


def check_routes(service: Service) -> None:
    """Every route a service always has, over cleartext HTTP/1.1."""
    with service.client() as http:
        live = http.get("/health/live")
        assert live.status_code == 200
        assert live.json() == {"status": "ok"}

        ready = http.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ok"

        page = http.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert 'data-api="/api/messages"' in page.text
        assert http.get("/static/messages.js").status_code == 200

        created = http.post("/api/messages", json={"text": "over a real socket"})
        assert created.status_code == 201, created.text
        message = created.json()
        assert message["text"] == "over a real socket"
        assert http.get(f"/api/messages/{message['id']}").json() == message
        listed = http.get("/api/messages", params={"limit": 5}).json()
        assert listed["messages"][0] == message
        assert "over a real socket" in http.get("/").text

        malformed = http.post(
            "/api/messages",
            content=b'{"text": ',
            headers={"Content-Type": "application/json", "X-Request-ID": "bad-1"},
        )
        assert malformed.status_code == 400
        assert malformed.headers["content-type"] == "application/json"
        assert malformed.json()["request_id"] == "bad-1"
        assert "not valid JSON" in malformed.json()["message"]

        invalid = http.post("/api/messages", json={"text": ""})
        assert invalid.status_code == 422
        assert invalid.json()["details"][0]["loc"] == ["text"]

        oversize = http.post("/api/messages", json={"text": "x" * 100_000})
        assert oversize.status_code == 413
        assert oversize.json()["status"] == 413
        assert oversize.headers["connection"] == "close"

        missing = http.get("/no/such/route")
        assert missing.status_code == 404
        assert missing.json()["status"] == 404
        assert "Traceback" not in missing.text

        assert http.get("/openapi.json").json()["info"]["title"]

    check_metrics(service)


def check_metrics(service: Service) -> None:
    """The requests above are counted, on the metrics port, which serves
    nothing else (and the service's own port no metrics)."""
    scrape = {
        (each.name, tuple(sorted(each.labels.items()))): each.value
        for family in text_string_to_metric_families(service.scrape())
        for each in family.samples
    }
    posted = (("method", "POST"), ("route", "/api/messages"), ("status", "201"))
    assert scrape[("http_request_duration_seconds_count", posted)] == 1
    assert scrape[("messages_published_total", ())] == 1
    unmatched = (("method", "GET"), ("route", "<unmatched>"), ("status", "404"))
    assert scrape[("http_request_duration_seconds_count", unmatched)] == 1
    metrics_port = service.metrics_url.removesuffix("/metrics")
    elsewhere = httpx.get(f"{metrics_port}/health/live")
    assert elsewhere.status_code == 404
    assert elsewhere.json()["status"] == 404, elsewhere.text
    posted_there = httpx.post(service.metrics_url)
    assert posted_there.status_code == 405
    assert posted_there.headers["allow"] == "GET, HEAD"
    assert posted_there.json()["error"] == "Method Not Allowed", posted_there.text
    assert httpx.get(f"{service.base_url}/metrics").status_code == 404


def check_stops_cleanly(service: Service) -> None:
    """SIGTERM: exit code 0 within the grace period, no traceback."""
    code, seconds = service.stop(signal.SIGTERM)
    assert code == 0, service.log()
    assert seconds < 5, f"SIGTERM took {seconds:.1f}s"
    assert "shutting down" in service.log()
    assert "Traceback" not in service.log()
