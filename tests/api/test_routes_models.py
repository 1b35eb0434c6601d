"""The catalog routes: list, get (model ids contain a slash), availability."""

from __future__ import annotations

from fastapi.testclient import TestClient

from pixelrun.engines.qwen_image_edit import EditInput, EditOutput
from pixelrun.store import Store

from .conftest import MODEL, Caller, assert_envelope


def test_list_models(client: TestClient, caller: Caller) -> None:
    response = client.get("/v1/models", headers=caller.headers)
    assert response.status_code == 200
    models = response.json()
    assert [m["id"] for m in models] == [MODEL, "alibaba/qwen-image-edit-2511-lightning"]
    model = models[0]
    assert model["pricing"] == {"unit": "megapixel", "price": "0.03", "currency": "USD"}
    assert model["input_schema"] == EditInput.model_json_schema()
    assert model["output_schema"] == EditOutput.model_json_schema()
    assert model["availability"] == {
        "workers_ready": 0,
        "available": False,
        "workers_loading": 0,
        "reason": None,
        "message": None,
    }
    assert model["name"] and model["description"]


def test_get_model_by_id_with_a_slash(client: TestClient, caller: Caller) -> None:
    response = client.get(f"/v1/models/{MODEL}", headers=caller.headers)
    assert response.status_code == 200
    assert response.json()["id"] == MODEL


def test_unknown_model_is_404(client: TestClient, caller: Caller) -> None:
    for model_id in ("acme/nothing", "alibaba", "qwen-image-edit-2511"):
        assert_envelope(client.get(f"/v1/models/{model_id}", headers=caller.headers), 404, "MODEL_NOT_FOUND")


def test_availability_counts_ready_workers_of_the_model(
    client: TestClient, caller: Caller, store: Store
) -> None:
    store.workers.register("w1", "gpu0", [MODEL], "cuda:0")  # starting: not ready yet
    store.workers.register("w2", "gpu1", ["acme/other"], "cuda:1", status="ready")
    availability = client.get(f"/v1/models/{MODEL}", headers=caller.headers).json()["availability"]
    assert availability["workers_ready"] == 0 and availability["available"] is False
    assert availability["workers_loading"] == 1  # "starting" counts as loading
    store.workers.heartbeat("w1", "ready")
    store.workers.register("w3", "gpu2", [MODEL], "cuda:2", status="busy")
    availability = client.get(f"/v1/models/{MODEL}", headers=caller.headers).json()["availability"]
    assert availability == {
        "workers_ready": 2,
        "available": True,
        "workers_loading": 0,
        "reason": None,
        "message": None,
    }


def test_availability_names_the_reason_the_last_worker_failed(
    client: TestClient, caller: Caller, store: Store
) -> None:
    store.workers.register("w1", "gpu0", [MODEL], "cuda:0", status="loading")
    store.availability.mark_failed("w1", "not_found", "weights /nope: no such directory")
    availability = client.get(f"/v1/models/{MODEL}", headers=caller.headers).json()["availability"]
    assert availability["available"] is False and availability["workers_loading"] == 0
    assert (availability["reason"], availability["message"]) == (
        "not_found",
        "weights /nope: no such directory",
    )
    store.workers.register("w2", "gpu1", [MODEL], "cuda:1", status="ready")  # fixed: the failure is history
    availability = client.get(f"/v1/models/{MODEL}", headers=caller.headers).json()["availability"]
    assert availability["available"] is True and availability["reason"] is None
