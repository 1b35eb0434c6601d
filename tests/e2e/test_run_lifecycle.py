"""A run's life through the real server and worker: statuses, progress, cancellation."""

from __future__ import annotations

import base64
import time

import requests

from .conftest import png_bytes
from .server import Server

RUNS = "/v1/models/alibaba/qwen-image-edit-2511/runs"
IMAGE = "data:image/png;base64," + base64.b64encode(png_bytes(64, 48)).decode()


def create(server: Server, **input_fields: object) -> dict:
    body = {
        "input": {"prompt": "make it blue", "image_urls": [IMAGE], "image_size": "256x256", **input_fields}
    }
    response = requests.post(server.base_url + RUNS, json=body, headers=server.headers(), timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def cancel(server: Server, run_id: str) -> requests.Response:
    return requests.post(
        f"{server.base_url}/v1/runs/{run_id}/cancellation", headers=server.headers(), timeout=10
    )


def test_statuses_progress_and_cancellation(server: Server) -> None:
    long = create(server, image_size="512x512", num_inference_steps=50, acceleration="none")
    queued = create(server, num_inference_steps=2)
    assert queued["status_code"] == "queued" and queued["queue_position"] >= 1 and queued["progress"] is None

    seen_statuses: set[str] = set()
    progress = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = server.get_run(long["id"])
        seen_statuses.add(run["status_code"])
        if run["status_code"] == "running" and run["progress"] and run["progress"]["step"] >= 2:
            progress = run["progress"]
            break
        time.sleep(0.05)
    assert progress is not None and progress["steps"] == 50, seen_statuses
    assert run["queue_position"] is None and run["started_at"] is not None

    # Cancel while queued: the second run never runs.
    response = cancel(server, queued["id"])
    assert response.status_code == 201 and response.json()["status_code"] == "canceled"

    # Cancel while running: the worker stops at its next step and takes the next run.
    response = cancel(server, long["id"])
    assert response.status_code == 201
    canceled = response.json()
    assert (
        canceled["status_code"] == "canceled"
        and canceled["output"] is None
        and canceled["cost"] in ("0", "0.000000")
    )

    # Already terminal: 200 with the unchanged run.
    again = cancel(server, long["id"])
    assert again.status_code == 200 and again.json()["completed_at"] == canceled["completed_at"]

    follow_up = server.wait_run(create(server, num_inference_steps=2)["id"])
    assert follow_up["status_code"] == "succeeded"
    assert cancel(server, follow_up["id"]).status_code == 200
    assert server.get_run(long["id"])["status_code"] == "canceled"  # a late result was dropped
    assert server.get_run(queued["id"])["started_at"] is None


def test_bad_input_image_fails_with_a_clear_message_and_the_worker_keeps_serving(server: Server) -> None:
    bad = server.wait_run(create(server, image_urls=[IMAGE, "data:image/png;base64,bm9wZQ=="])["id"])
    assert bad["status_code"] == "failed"
    assert bad["failure_stage_code"] == "input_fetch"
    assert "image_urls[1]" in bad["failure_message"]
    good = server.wait_run(create(server, num_inference_steps=1, sync_mode=True, output_format="jpeg")["id"])
    assert good["status_code"] == "succeeded"
    assert good["output"]["outputs"][0]["url"].startswith("data:image/jpeg;base64,")


def test_the_tiny_server_serves_the_lightning_model_out_of_the_box(server: Server) -> None:
    """`serve --weights tiny` generates a tiny Lightning LoRA and serves both models."""
    model = server.base_url + "/v1/models/alibaba/qwen-image-edit-2511-lightning"
    body = {
        "input": {"prompt": "make it blue", "image_urls": [IMAGE], "image_size": "256x256", "sync_mode": True}
    }
    response = requests.post(model + "/runs", json=body, headers=server.headers(), timeout=10)
    assert response.status_code == 201, response.text
    run = server.wait_run(response.json()["id"])
    assert run["status_code"] == "succeeded", run
    data = run["output"]["model_data"]
    assert (data["num_inference_steps"], data["guidance_scale"], data["transformer_forwards"]) == (8, 1.0, 8)
    availability = requests.get(model, headers=server.headers(), timeout=10).json()["availability"]
    assert availability["available"] is True
