"""The backend's HTTP API in-process: chat, errors, readiness, drain, metrics."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.backend.main import Drain, create_app
from app.backend.metrics import BUCKETS, HttpMetrics, MetricsMiddleware
from app.backend.pais import PaisClient
from app.backend.store import ChatStore, DatabaseUnavailable
from tests.unit.app.fakes import FakeClock, FakePais, settings
from tests.unit.app.servers import free_port


@dataclass
class FakeStore:
    rows: list[tuple[str | None, str, str, str]] = field(default_factory=list)
    up: bool = True

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ensure_schema(self, timeout: float = 5.0) -> None:
        if not self.up:
            raise DatabaseUnavailable("down")

    async def ready(self) -> bool:
        return self.up

    async def insert(self, session_id: str | None, prompt: str, reply: str, source: str) -> int:
        if not self.up:
            raise DatabaseUnavailable("cannot store the exchange: OperationalError")
        self.rows.append((session_id, prompt, reply, source))
        return len(self.rows)


def backend(
    fake: FakePais | None = None, store: FakeStore | None = None, drain: Drain | None = None
) -> tuple[FastAPI, FakeStore, HttpMetrics]:
    s = settings()
    store = store or FakeStore()
    metrics = HttpMetrics()
    pais = PaisClient(s, (fake or FakePais()).client(), clock=FakeClock(), retry_wait_max=0.01)
    return create_app(s, pais=pais, store=store, drain=drain, metrics=metrics), store, metrics


def test_chat_answers_and_stores_one_row() -> None:
    app, store, _ = backend()
    with TestClient(app) as http:
        response = http.post("/api/chat", json={"message": "What is PAIF?", "session_id": "s-1"})
    assert response.status_code == 200
    assert response.json() == {"reply": "from agent", "id": 1, "source": "agent"}
    assert store.rows == [("s-1", "What is PAIF?", "from agent", "agent")]


def test_chat_via_model_fallback_is_labelled_model() -> None:
    app, store, _ = backend(FakePais(agent=[404]))
    with TestClient(app) as http:
        response = http.post("/api/chat", json={"message": "hi"})
    assert response.json()["source"] == "model"
    assert store.rows[0][0] is None


def test_chat_request_validation() -> None:
    app, store, _ = backend()
    with TestClient(app) as http:
        assert http.post("/api/chat", json={"message": ""}).status_code == 422
        assert http.post("/api/chat", json={"message": "x" * 8001}).status_code == 422
        assert http.post("/api/chat", json={"text": "hi"}).status_code == 422
    assert store.rows == []


def test_pais_failure_is_502_and_stores_nothing() -> None:
    app, store, _ = backend(FakePais(token=[401]))
    with TestClient(app) as http:
        response = http.post("/api/chat", json={"message": "hi"})
    assert response.status_code == 502
    assert "refused the client credentials" in response.json()["detail"]
    assert store.rows == []


def test_database_failure_is_503() -> None:
    app, _, _ = backend(store=FakeStore(up=False))
    with TestClient(app) as http:
        response = http.post("/api/chat", json={"message": "hi"})
    assert (response.status_code, response.json()) == (503, {"detail": "database unavailable"})


def test_readyz_is_503_without_a_database_and_answers_within_the_probe_timeout() -> None:
    s = settings(DB_PORT=str(free_port()))  # nothing listens there
    pais = PaisClient(s, FakePais().client(), clock=FakeClock())
    app = create_app(s, pais=pais, store=ChatStore(s), metrics=HttpMetrics())
    with TestClient(app) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        started = time.monotonic()
        response = http.get("/readyz")
        elapsed = time.monotonic() - started
    assert (response.status_code, response.json()) == (503, {"status": "database unavailable"})
    assert elapsed < 1.0  # the kubelet's default probe timeout


def test_readyz_ready_then_draining() -> None:
    drain = Drain()
    app, _, _ = backend(drain=drain)
    with TestClient(app) as http:
        ready = http.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        assert ready.headers.get("connection") != "close"
        drain.begin()
        draining = http.get("/readyz")
        assert (draining.status_code, draining.json()) == (503, {"status": "draining"})
        # Still serving, but telling clients to reconnect elsewhere.
        served = http.post("/api/chat", json={"message": "during drain"})
        assert served.status_code == 200
        assert served.headers["connection"] == "close"


def samples(http: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_metrics_names_labels_and_route_templates() -> None:
    app, _, _ = backend()
    with TestClient(app) as http:
        http.post("/api/chat", json={"message": "hi"})
        http.post("/api/chat", json={"message": ""})
        http.get("/healthz")
        http.get("/no/such/path/12345")
        found = samples(http)

    def labels(method: str, route: str, status: str) -> tuple[tuple[str, str], ...]:
        return (("method", method), ("route", route), ("status", status))

    assert found[("http_requests_total", labels("POST", "/api/chat", "200"))] == 1
    assert found[("http_requests_total", labels("POST", "/api/chat", "422"))] == 1
    assert found[("http_requests_total", labels("GET", "/healthz", "200"))] == 1
    assert found[("http_requests_total", labels("GET", "unmatched", "404"))] == 1
    assert found[("http_request_duration_seconds_count", labels("POST", "/api/chat", "200"))] == 1
    bucket_bounds = {
        dict(key[1])["le"]
        for key in found
        if key[0] == "http_request_duration_seconds_bucket" and dict(key[1])["route"] == "/api/chat"
    }
    assert bucket_bounds == {str(float(b)) for b in BUCKETS} | {"+Inf"}
    # The raw path never becomes a label value.
    assert not any("12345" in value for _, labelset in found for _, value in labelset)
    # Only /metrics itself is in flight while it renders.
    assert found[("http_requests_in_flight", ())] == 1


def test_in_flight_gauge_counts_the_request_being_served() -> None:
    seen: list[float | None] = []

    class Watching(FakePais):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.startswith("/v1/"):
                seen.append(metrics.registry.get_sample_value("http_requests_in_flight"))
            return super().__call__(request)

    app, _, metrics = backend(Watching())
    with TestClient(app) as http:
        http.post("/api/chat", json={"message": "hi"})
    assert seen == [1.0]
    assert metrics.registry.get_sample_value("http_requests_in_flight") == 0.0


def test_route_label_is_the_template_of_a_parametrised_route() -> None:
    metrics = HttpMetrics()
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    app.add_middleware(MetricsMiddleware, metrics=metrics)
    with TestClient(app) as http:
        http.get("/items/1")
        http.get("/items/2")
    value = metrics.registry.get_sample_value(
        "http_requests_total", {"method": "GET", "route": "/items/{item_id}", "status": "200"}
    )
    assert value == 2
