"""Runs: create (validation, credit, model lookup), read, cancel."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from pixelrun.runs import RunStatus, price_outputs
from pixelrun.store import Store

from .conftest import BASE_URL, MODEL, Caller, CreateRun, MakeCaller, assert_envelope, valid_input

RUN_FIELDS = {
    "id", "model_id", "status_code", "input", "output", "metadata", "callback_url", "client_ref",
    "created_at", "started_at", "completed_at", "duration_ms", "cost", "cost_breakdown",
    "failure_code", "failure_message", "failure_stage_code", "progress", "queue_position", "links",
}  # fmt: skip


# ---------------------------------------------------------------- create


def test_create_returns_201_with_the_queued_run(create_run: CreateRun, caller: Caller, store: Store) -> None:
    response = create_run(
        callback_url="https://hooks.example.com/pixelrun",
        metadata={"job": 7, "tags": ["a"]},
        client_ref="order-42",
    )
    assert response.status_code == 201, response.text
    run = response.json()
    assert set(run) == RUN_FIELDS
    assert run["model_id"] == MODEL
    assert run["status_code"] == "queued"
    assert run["queue_position"] == 1
    assert run["progress"] is None and run["output"] is None and run["cost"] is None
    assert run["callback_url"] == "https://hooks.example.com/pixelrun"
    assert run["metadata"] == {"job": 7, "tags": ["a"]}
    assert run["client_ref"] == "order-42"
    assert run["created_at"].endswith("+00:00")
    assert run["started_at"] is None and run["completed_at"] is None and run["duration_ms"] is None
    base = f"{BASE_URL}/v1/runs/{run['id']}"
    assert run["links"] == {
        "self": base,
        "cancel": f"{base}/cancellation",
        "logs": f"{base}/logs",
        "callback": f"{base}/callback",
    }
    # The stored input is the validated one, defaults filled in, JSON-typed.
    assert run["input"]["num_images"] == 1
    assert run["input"]["acceleration"] == "regular"
    assert run["input"]["output_format"] == "png"
    stored = store.runs.get(run["id"], caller.owner_id)
    assert stored is not None and stored.input == run["input"]


def test_create_normalises_image_size_forms(create_run: CreateRun) -> None:
    run = create_run(input=valid_input(image_size="1000x700")).json()
    assert run["input"]["image_size"] == {"width": 992, "height": 688}
    run = create_run(input=valid_input(image_size="portrait_4_3", guidance_scale=3)).json()
    assert run["input"]["image_size"] == "portrait_4_3"
    assert run["input"]["guidance_scale"] == 3.0


def test_queue_positions_follow_creation_order(create_run: CreateRun) -> None:
    positions = [create_run().json()["queue_position"] for _ in range(3)]
    assert positions == [1, 2, 3]


def test_unknown_model_is_404_model_not_found_before_input_validation(
    client: TestClient, caller: Caller
) -> None:
    for model in ("acme/nothing", "alibaba", "alibaba/qwen-image-edit-2511/extra"):
        response = client.post(f"/v1/models/{model}/runs", json={"input": {}}, headers=caller.headers)
        assert_envelope(response, 404, "MODEL_NOT_FOUND")


def test_auth_is_checked_before_the_model(client: TestClient) -> None:
    response = client.post("/v1/models/acme/nothing/runs", json={"input": {}})
    assert_envelope(response, 401, "UNAUTHORIZED")


def test_model_route_does_not_swallow_other_paths(client: TestClient, caller: Caller) -> None:
    # GET on the create route is a method the path does not take (found by schemathesis:
    # it used to be the lookup of a model named ".../runs").
    response = client.get(f"/v1/models/{MODEL}/runs", headers=caller.headers)
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "POST"
    assert client.get(f"/v1/models/{MODEL}", headers=caller.headers).status_code == 200
    response = client.post(f"/v1/models/{MODEL}", json={"input": valid_input()}, headers=caller.headers)
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")


INVALID_INPUTS: list[tuple[str, dict[str, Any], list[str | int]]] = [
    ("prompt missing", {"image_urls": ["https://e.com/a.png"]}, ["prompt"]),
    ("prompt empty", valid_input(prompt=""), ["prompt"]),
    ("prompt blank", valid_input(prompt="   "), []),
    ("prompt too long", valid_input(prompt="x" * 2001), ["prompt"]),
    ("prompt not a string", valid_input(prompt=123), ["prompt"]),
    ("negative_prompt too long", valid_input(negative_prompt="x" * 2001), ["negative_prompt"]),
    ("image_urls missing", {"prompt": "x"}, ["image_urls"]),
    ("image_urls empty", valid_input(image_urls=[]), ["image_urls"]),
    ("image_urls 5 items", valid_input(image_urls=["https://e.com/a.png"] * 5), ["image_urls"]),
    ("image_urls bad scheme", valid_input(image_urls=["ftp://e.com/a.png"]), ["image_urls"]),
    ("image_urls data not image", valid_input(image_urls=["data:text/plain;base64,eA=="]), ["image_urls"]),
    ("image_urls a string", valid_input(image_urls="https://e.com/a.png"), ["image_urls"]),
    ("image_urls item not a string", valid_input(image_urls=[1]), ["image_urls", 0]),
    ("num_images 0", valid_input(num_images=0), ["num_images"]),
    ("num_images 5", valid_input(num_images=5), ["num_images"]),
    ("num_images string", valid_input(num_images="2"), ["num_images"]),
    ("num_images float", valid_input(num_images=1.5), ["num_images"]),
    ("num_images bool", valid_input(num_images=True), ["num_images"]),
    ("image_size bad preset", valid_input(image_size="huge_hd"), ["image_size"]),
    ("image_size 100x100", valid_input(image_size="100x100"), ["image_size"]),
    ("image_size abc", valid_input(image_size="abc"), ["image_size"]),
    ("image_size width 4000 only", valid_input(image_size={"width": 4000}), ["image_size"]),
    ("image_size 4000x4000 object", valid_input(image_size={"width": 4000, "height": 4000}), ["image_size"]),
    ("image_size extra key", valid_input(image_size={"width": 512, "height": 512, "d": 1}), ["image_size"]),
    ("image_size number", valid_input(image_size=1024), ["image_size"]),
    ("steps 0", valid_input(num_inference_steps=0), ["num_inference_steps"]),
    ("steps 51", valid_input(num_inference_steps=51), ["num_inference_steps"]),
    ("guidance 0.5", valid_input(guidance_scale=0.5), ["guidance_scale"]),
    ("guidance 21", valid_input(guidance_scale=21), ["guidance_scale"]),
    ("guidance string", valid_input(guidance_scale="4.5"), ["guidance_scale"]),
    ("seed -1", valid_input(seed=-1), ["seed"]),
    ("seed 2**32", valid_input(seed=2**32), ["seed"]),
    ("seed float", valid_input(seed=1.5), ["seed"]),
    ("acceleration max", valid_input(acceleration="max"), ["acceleration"]),
    ("output_format gif", valid_input(output_format="gif"), ["output_format"]),
    ("enable_safety_checker int", valid_input(enable_safety_checker=1), ["enable_safety_checker"]),
    ("sync_mode string", valid_input(sync_mode="yes"), ["sync_mode"]),
    ("unknown field", valid_input(strength=0.5), ["strength"]),
    ("4 loras", valid_input(loras=[{"path": "https://e.com/a.safetensors"}] * 4), ["loras"]),
    ("lora scale 5", valid_input(loras=[{"path": "https://e.com/a.safetensors", "scale": 5}]), ["loras"]),
    ("lora path ftp", valid_input(loras=[{"path": "ftp://e.com/a.safetensors"}]), ["loras"]),
    ("lora extra key", valid_input(loras=[{"path": "https://e.com/a", "rank": 4}]), ["loras"]),
]


@pytest.mark.parametrize(
    ("case", "input", "where"), INVALID_INPUTS, ids=[case for case, _, _ in INVALID_INPUTS]
)
def test_each_invalid_input_is_422_with_field_level_errors(
    create_run: CreateRun, case: str, input: dict[str, Any], where: list[str | int]
) -> None:
    body = assert_envelope(create_run(input=input), 422, "VALIDATION_ERROR")
    assert body["errors"], body
    prefix = ["body", "input", *where]
    assert any(err["loc"][: len(prefix)] == prefix for err in body["errors"]), body["errors"]
    for err in body["errors"]:
        assert set(err) == {"loc", "msg", "type"}
        assert err["loc"][:2] == ["body", "input"]


INVALID_BODIES: list[tuple[str, dict[str, Any], list[str | int]]] = [
    ("input missing", {}, ["body", "input"]),
    ("input not an object", {"input": "make it blue"}, ["body", "input"]),
    ("unknown top-level field", {"input": valid_input(), "webhook": "x"}, ["body", "webhook"]),
    ("callback_url ftp", {"input": valid_input(), "callback_url": "ftp://e.com/h"}, ["body", "callback_url"]),
    ("callback_url relative", {"input": valid_input(), "callback_url": "/hook"}, ["body", "callback_url"]),
    ("callback_url not a string", {"input": valid_input(), "callback_url": 5}, ["body", "callback_url"]),
    ("metadata a list", {"input": valid_input(), "metadata": [1]}, ["body", "metadata"]),
    ("client_ref not a string", {"input": valid_input(), "client_ref": 5}, ["body", "client_ref"]),
    ("client_ref too long", {"input": valid_input(), "client_ref": "x" * 300}, ["body", "client_ref"]),
    ("NUL in prompt", {"input": valid_input(prompt="a\x00b")}, ["body", "input", "prompt"]),
    (
        "NUL in metadata key",
        {"input": valid_input(), "metadata": {"a\x00": 1}},
        ["body", "metadata", "a\x00"],
    ),
    ("NUL in client_ref", {"input": valid_input(), "client_ref": "a\x00"}, ["body", 1]),
]


@pytest.mark.parametrize(
    ("case", "body", "where"), INVALID_BODIES, ids=[case for case, _, _ in INVALID_BODIES]
)
def test_each_invalid_body_is_422(
    client: TestClient, caller: Caller, case: str, body: dict[str, Any], where: list[str | int]
) -> None:
    response = client.post(f"/v1/models/{MODEL}/runs", json=body, headers=caller.headers)
    errors = assert_envelope(response, 422, "VALIDATION_ERROR")["errors"]
    assert any(err["loc"][: len(where)] == where for err in errors), errors


def test_non_finite_metadata_number_is_422(client: TestClient, caller: Caller) -> None:
    # Python's JSON parser reads NaN; the store could not keep it.
    response = client.post(
        f"/v1/models/{MODEL}/runs",
        content=b'{"input": {"prompt": "x", "image_urls": ["https://e.com/a.png"]}, "metadata": {"v": NaN}}',
        headers={**caller.headers, "Content-Type": "application/json"},
    )
    errors = assert_envelope(response, 422, "VALIDATION_ERROR")["errors"]
    assert errors[0]["loc"] == ["body", "metadata", "v"]


def test_several_errors_are_all_reported(create_run: CreateRun) -> None:
    body = assert_envelope(
        create_run(input=valid_input(num_images=9, seed=-1, output_format="gif")), 422, "VALIDATION_ERROR"
    )
    locs = {tuple(err["loc"]) for err in body["errors"]}
    assert {
        ("body", "input", "num_images"),
        ("body", "input", "seed"),
        ("body", "input", "output_format"),
    } <= locs


def test_insufficient_credit_is_402(make_caller: MakeCaller, create_run: CreateRun, store: Store) -> None:
    poor = make_caller("poor", budget_micros=31_457)
    # 1024x1024 (the default estimate) is 0.03145728 USD: one micro-dollar more than the budget.
    assert_envelope(create_run(who=poor), 402, "INSUFFICIENT_CREDIT")
    # A smaller explicit size fits the same budget.
    assert create_run(who=poor, input=valid_input(image_size="square")).status_code == 201
    # Four outputs at 1 MP cannot.
    store.owners.set_budget(poor.owner_id, 125_829)
    assert_envelope(
        create_run(who=poor, input=valid_input(num_images=4, image_size="square_hd")),
        402,
        "INSUFFICIENT_CREDIT",
    )
    assert store.runs.page(poor.owner_id)[0][0].input["image_size"] == "square"


def test_create_needs_a_key(client: TestClient) -> None:
    response = client.post(f"/v1/models/{MODEL}/runs", json={"input": valid_input()})
    assert_envelope(response, 401, "UNAUTHORIZED")


# ---------------------------------------------------------------- read


def test_get_run_returns_the_run(client: TestClient, caller: Caller, create_run: CreateRun) -> None:
    created = create_run().json()
    response = client.get(f"/v1/runs/{created['id']}", headers=caller.headers)
    assert response.status_code == 200
    assert response.json() == created


def test_get_unknown_run_is_404(client: TestClient, caller: Caller) -> None:
    for run_id in ("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "not-a-uuid", "x" * 100):
        assert_envelope(client.get(f"/v1/runs/{run_id}", headers=caller.headers), 404, "RUN_NOT_FOUND")


def test_another_owners_run_is_404_everywhere(
    client: TestClient, create_run: CreateRun, other_caller: Caller
) -> None:
    run_id = create_run().json()["id"]
    hidden = other_caller.headers
    assert_envelope(client.get(f"/v1/runs/{run_id}", headers=hidden), 404, "RUN_NOT_FOUND")
    assert_envelope(client.post(f"/v1/runs/{run_id}/cancellation", headers=hidden), 404, "RUN_NOT_FOUND")
    assert_envelope(client.get(f"/v1/runs/{run_id}/logs", headers=hidden), 404, "RUN_NOT_FOUND")
    assert client.get("/v1/runs", headers=hidden).json() == {"items": [], "next_pq": None}


def test_running_run_shows_progress_and_no_queue_position(
    client: TestClient, caller: Caller, create_run: CreateRun, store: Store
) -> None:
    run_id = create_run().json()["id"]
    claimed = store.queue.claim("w1", [MODEL], lease_seconds=30)
    assert claimed is not None and claimed.id == run_id
    run = client.get(f"/v1/runs/{run_id}", headers=caller.headers).json()
    assert run["status_code"] == "dispatching"
    assert run["queue_position"] is None and run["progress"] is None
    assert store.queue.mark_running(run_id, claimed.attempt, "w1")
    store.queue.heartbeat(run_id, claimed.attempt, "w1", 30, step=3, steps=28)
    run = client.get(f"/v1/runs/{run_id}", headers=caller.headers).json()
    assert run["status_code"] == "running"
    assert run["progress"] == {"step": 3, "steps": 28}
    assert run["started_at"].endswith("+00:00")


def test_succeeded_run_has_signed_output_urls_cost_and_duration(
    client: TestClient, caller: Caller, create_run: CreateRun, store: Store
) -> None:
    run_id = create_run().json()["id"]
    claimed = store.queue.claim("w1", [MODEL], lease_seconds=30)
    assert claimed is not None
    pricing = price_outputs([(512, 512)])
    output = {
        "outputs": [
            {
                "key": f"runs/{run_id}/0.png",
                "type": "image",
                "content_type": "image/png",
                "width": 512,
                "height": 512,
                "file_size": 10,
            }
        ],
        "seed": 7,
        "model_data": {"prompt": "x", "has_nsfw_concepts": [False], "acceleration": "regular"},
        "nsfw_detected": False,
        "timing": {"inference_ms": 5, "total_ms": 9, "queue_ms": 1},
    }
    assert store.queue.finish(
        run_id,
        claimed.attempt,
        "w1",
        RunStatus.SUCCEEDED,
        output=output,
        cost=pricing.cost_str,
        cost_breakdown=pricing.breakdown,
        cost_micros=pricing.cost_micros,
    )
    run = client.get(f"/v1/runs/{run_id}", headers=caller.headers).json()
    assert run["status_code"] == "succeeded"
    assert run["cost"] == "0.007864"
    assert run["cost_breakdown"] == [
        {
            "item": "output_image",
            "quantity": 0.262144,
            "unit": "megapixel",
            "unit_price": "0.03",
            "amount": "0.007864",
        }
    ]
    assert run["completed_at"].endswith("+00:00")
    assert isinstance(run["duration_ms"], int) and run["duration_ms"] >= 0
    image = run["output"]["outputs"][0]
    assert "key" not in image
    url = urlsplit(image["url"])
    assert f"{url.scheme}://{url.netloc}" == BASE_URL
    assert url.path == f"/v1/files/runs/{run_id}/0.png"
    assert set(parse_qs(url.query)) == {"expires", "signature"}
    assert run["output"]["seed"] == 7


def test_failed_run_shows_failure_fields(
    client: TestClient, caller: Caller, create_run: CreateRun, store: Store
) -> None:
    run_id = create_run().json()["id"]
    claimed = store.queue.claim("w1", [MODEL], lease_seconds=30)
    assert claimed is not None
    store.queue.finish(
        run_id,
        claimed.attempt,
        "w1",
        RunStatus.FAILED,
        failure_code="image_unreadable",
        failure_message="not an image",
        failure_stage="input_fetch",
    )
    run = client.get(f"/v1/runs/{run_id}", headers=caller.headers).json()
    assert run["status_code"] == "failed"
    assert (run["failure_code"], run["failure_message"], run["failure_stage_code"]) == (
        "image_unreadable",
        "not an image",
        "input_fetch",
    )
    assert run["output"] is None


# ---------------------------------------------------------------- cancel


def test_cancel_is_201_then_200_with_the_unchanged_run(
    client: TestClient, caller: Caller, create_run: CreateRun
) -> None:
    run_id = create_run().json()["id"]
    first = client.post(f"/v1/runs/{run_id}/cancellation", headers=caller.headers)
    assert first.status_code == 201
    canceled = first.json()
    assert canceled["status_code"] == "canceled"
    assert canceled["cost"] == "0.000000"
    assert canceled["queue_position"] is None
    assert canceled["completed_at"].endswith("+00:00")
    second = client.post(f"/v1/runs/{run_id}/cancellation", headers=caller.headers)
    assert second.status_code == 200
    assert second.json() == canceled


def test_cancel_unknown_run_is_404(client: TestClient, caller: Caller) -> None:
    response = client.post(
        "/v1/runs/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/cancellation", headers=caller.headers
    )
    assert_envelope(response, 404, "RUN_NOT_FOUND")
