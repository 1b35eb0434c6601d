"""503 MODEL_UNAVAILABLE: creates for a model no live worker serves, after the grace period."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from pixelrun.api import create_app
from pixelrun.api.model_gate import ModelGate
from pixelrun.config import Settings
from pixelrun.store import Store

from .conftest import BASE_URL, MODEL, Caller, assert_envelope, valid_input

GRACE_SECONDS = 30.0


@pytest.fixture
def gated(store: Store, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data",
        public_base_url=BASE_URL,
        signing_secret="s" * 32,
        model_grace_seconds=GRACE_SECONDS,
        background_tasks=False,
    )
    # A Store object of its own (same database): gates are per Store object, and the
    # session-wide app of the other API tests must keep its own.
    with TestClient(create_app(settings, Store(engine=store.engine)), base_url=BASE_URL) as client:
        yield client


def _gate(client: TestClient) -> ModelGate:
    gate: ModelGate = client.app.state.services.model_gate  # type: ignore[attr-defined]
    return gate


def _end_grace(client: TestClient) -> None:
    gate = _gate(client)
    gate.started_at -= GRACE_SECONDS + 1
    gate.cache_seconds = 0  # every create looks at the store (the default caches 1 s)


def _create(client: TestClient, caller: Caller) -> httpx.Response:
    return client.post(f"/v1/models/{MODEL}/runs", json={"input": valid_input()}, headers=caller.headers)


def test_within_the_grace_period_a_create_is_queued_without_a_worker(
    gated: TestClient, caller: Caller
) -> None:
    response = _create(gated, caller)
    assert response.status_code == 201, response.text
    assert response.json()["status_code"] == "queued"


def test_after_the_grace_period_a_create_without_a_live_worker_is_503(
    gated: TestClient, caller: Caller, store: Store
) -> None:
    _end_grace(gated)
    body = assert_envelope(_create(gated, caller), 503, "MODEL_UNAVAILABLE")
    assert MODEL in body["message"]
    assert store.runs.page(caller.owner_id)[0] == []  # nothing was queued (or charged)

    store.workers.register("w1", "gpu0", [MODEL], "cuda:0", status="loading")
    store.availability.mark_failed("w1", "not_found", "weights /nope: no such directory")
    body = assert_envelope(_create(gated, caller), 503, "MODEL_UNAVAILABLE")
    assert "weights /nope: no such directory" in body["message"]


@pytest.mark.parametrize("status", ["loading", "ready", "busy"])
def test_a_loading_or_serving_worker_keeps_creates_open(
    gated: TestClient, caller: Caller, store: Store, status: str
) -> None:
    _end_grace(gated)
    store.workers.register("w1", "gpu0", [MODEL], "cuda:0", status=status)  # type: ignore[arg-type]
    assert _create(gated, caller).status_code == 201
    store.workers.mark_stopped("w1")
    assert _create(gated, caller).status_code == 503


def test_a_worker_of_another_model_does_not_count(gated: TestClient, caller: Caller, store: Store) -> None:
    _end_grace(gated)
    store.workers.register("w1", "gpu0", ["acme/other"], "cuda:0", status="ready")
    assert _create(gated, caller).status_code == 503


def test_invalid_input_is_still_422(gated: TestClient, caller: Caller) -> None:
    _end_grace(gated)
    response = gated.post(f"/v1/models/{MODEL}/runs", json={"input": {}}, headers=caller.headers)
    assert_envelope(response, 422, "VALIDATION_ERROR")


def test_the_live_worker_lookup_is_cached(store: Store) -> None:
    now = [100.0]
    gate = ModelGate(store, 0.0, cache_seconds=1.0, clock=lambda: now[0])
    assert gate.live_workers(MODEL) == 0
    store.workers.register("w1", "gpu0", [MODEL], "cuda:0", status="ready")
    assert gate.live_workers(MODEL) == 0  # within the second: the cached answer
    now[0] += 1.0
    assert gate.live_workers(MODEL) == 1


def test_a_negative_grace_never_refuses(store: Store) -> None:
    gate = ModelGate(store, -1.0, cache_seconds=0)
    gate.check(MODEL)  # no worker at all, and no error
