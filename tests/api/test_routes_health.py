"""Liveness and readiness (per-component checks; 503 until a worker is ready)."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient

from pixelrun.config import Settings
from pixelrun.store import Store

from .conftest import MODEL, Backend, assert_envelope

LIGHTNING = "alibaba/qwen-image-edit-2511-lightning"
#: What a worker serves by default: both catalog models on one set of weights.
BOTH = [MODEL, LIGHTNING]


def test_health_needs_no_key(client: TestClient) -> None:
    response = client.get("/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readiness_is_503_without_a_ready_worker(client: TestClient, store: Store) -> None:
    store.workers.register("w1", "gpu0", BOTH, "cuda:0", status="loading")
    body = assert_envelope(client.get("/v1/readiness"), 503, "UNAVAILABLE")
    assert body["checks"]["store"] == {"ok": True, "detail": None}
    assert body["checks"]["storage"] == {"ok": True, "detail": None}
    workers = body["checks"]["workers"]
    assert workers["ok"] is False and workers["ready"] == {MODEL: 0, LIGHTNING: 0}
    assert workers["detail"] == f"no ready worker for {MODEL}: loading; {LIGHTNING}: loading"
    assert workers["loading"] == {MODEL: 1, LIGHTNING: 1} and workers["failures"] == {}


def test_readiness_says_warming_up_while_a_compiled_worker_warms_up(client: TestClient, store: Store) -> None:
    store.workers.register("w1", "gpu0", BOTH, "cuda:0", {"phase": "warming up"}, status="loading")
    workers = assert_envelope(client.get("/v1/readiness"), 503, "UNAVAILABLE")["checks"]["workers"]
    assert workers["detail"] == f"no ready worker for {MODEL}: warming up; {LIGHTNING}: warming up"
    store.workers.register("w1", "gpu0", BOTH, "cuda:0", {"phase": "serving"}, status="ready")
    assert client.get("/v1/readiness").status_code == 200


def test_readiness_names_why_the_last_worker_failed_to_load(client: TestClient, store: Store) -> None:
    store.workers.register("w1", "gpu0", BOTH, "cuda:0", status="loading")
    store.availability.mark_failed("w1", "incomplete", "weights /w: not a complete checkpoint: vae/ missing")
    workers = assert_envelope(client.get("/v1/readiness"), 503, "UNAVAILABLE")["checks"]["workers"]
    message = "weights /w: not a complete checkpoint: vae/ missing"
    assert workers["detail"] == f"no ready worker for {MODEL}: {message}; {LIGHTNING}: {message}"
    failure = workers["failures"][MODEL]
    assert (failure["reason"], failure["worker"]) == ("incomplete", "gpu0")
    assert failure["failed_at"].endswith("Z") or failure["failed_at"].endswith("+00:00")
    # A worker of a machine that had never registered (the supervisor saw it die) is recorded too.
    store.availability.mark_failed(
        "w2", "crashed", "worker killed by signal 9", name="gpu1", model_ids=[MODEL]
    )
    workers = client.get("/v1/readiness").json()["checks"]["workers"]
    assert workers["failures"][MODEL]["reason"] == "crashed"


def test_readiness_is_200_once_a_worker_is_ready(client: TestClient, store: Store) -> None:
    store.workers.register("w1", "gpu0", BOTH, "cuda:0")
    assert store.workers.heartbeat("w1", status="ready")
    response = client.get("/v1/readiness")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ready",
        "checks": {
            "store": {"ok": True, "detail": None},
            "storage": {"ok": True, "detail": None},
            "workers": {
                "ok": True,
                "detail": None,
                "ready": {MODEL: 1, LIGHTNING: 1},
                "loading": {MODEL: 0, LIGHTNING: 0},
                "failures": {},
            },
        },
    }
    store.workers.mark_stopped("w1")
    assert client.get("/v1/readiness").status_code == 503


def test_readiness_reports_a_broken_store_and_storage(backend: Backend, store: Store) -> None:
    class DownStore:
        def ping(self) -> None:
            raise ConnectionError("database is down")

    class FullStorage:
        def ping(self) -> None:
            raise OSError("disk full")

    state = backend.app.state
    real = state.services
    state.services = dataclasses.replace(real, store=DownStore(), storage=FullStorage())
    try:
        body = assert_envelope(backend.client.get("/v1/readiness"), 503, "UNAVAILABLE")
    finally:
        state.services = real
    assert body["checks"]["store"] == {"ok": False, "detail": "ConnectionError"}
    assert body["checks"]["storage"] == {"ok": False, "detail": "OSError"}
    assert body["checks"]["workers"]["ok"] is False
    assert "database is down" not in str(body)


def test_a_model_no_worker_was_told_to_serve_does_not_hold_readiness_back(
    client: TestClient, store: Store
) -> None:
    # `pixelrun worker --models alibaba/qwen-image-edit-2511`: Lightning is simply not served.
    store.workers.register("w1", "gpu0", [MODEL], "cuda:0")
    assert store.workers.heartbeat("w1", status="ready")
    response = client.get("/v1/readiness")
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["workers"]["ready"] == {MODEL: 1, LIGHTNING: 0}
    store.workers.mark_stopped("w1")


def test_readiness_does_not_wait_for_workers_started_on_demand(
    client: TestClient, store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Kubernetes with KEDA scales workers from zero: an API replica without a worker must stay
    # in the load balancer, or no run could ever be queued to start one.
    monkeypatch.setattr(settings, "readiness_requires_worker", False)
    response = client.get("/v1/readiness")
    assert response.status_code == 200, response.text
    workers = response.json()["checks"]["workers"]
    assert workers["ok"] is False and workers["detail"] == "no ready worker for any model: no worker"
    # The store and storage still count.
    monkeypatch.setattr(store, "ping", lambda: (_ for _ in ()).throw(OSError("down")))
    assert client.get("/v1/readiness").status_code == 503
