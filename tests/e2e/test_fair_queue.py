"""Fair queues through the real server and worker: another owner's run does not wait for one
owner's backlog (docs/queue.md)."""

from __future__ import annotations

import base64

import requests

from pixelrun.store import Store

from .conftest import png_bytes
from .server import Server, wait_for

RUNS = "/v1/models/alibaba/qwen-image-edit-2511/runs"
IMAGE = "data:image/png;base64," + base64.b64encode(png_bytes(64, 48)).decode()
BODY = {
    "input": {
        "prompt": "make it blue",
        "image_urls": [IMAGE],
        "image_size": "256x256",
        "num_inference_steps": 2,
    }
}
BACKLOG = 20


def _create(server: Server, key: str) -> dict:
    response = requests.post(server.base_url + RUNS, json=BODY, headers=server.headers(key), timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def test_another_owners_run_starts_when_the_worker_is_free(server: Server, module_database_url: str) -> None:
    store = Store(module_database_url)
    try:
        _, other_key = store.keys.create(store.owners.ensure("fair-queue-b").id, "b")
    finally:
        store.close()
    key_a = server.wait_key()
    backlog = [_create(server, key_a) for _ in range(BACKLOG)]
    try:
        wait_for(lambda: server.get_run(backlog[0]["id"], key_a)["status_code"] != "queued", timeout=60)
        started_before = sum(server.get_run(r["id"], key_a)["status_code"] != "queued" for r in backlog)
        newcomer = _create(server, other_key)
        # Owner A was served in this round already: B's run is the next to be claimed.
        assert newcomer["queue_position"] == 1
        done = server.wait_run(newcomer["id"], timeout=120, key=other_key)
        assert done["status_code"] == "succeeded", done
        a_runs = [server.get_run(r["id"], key_a) for r in backlog]
        ahead = [r for r in a_runs if r["started_at"] is not None and r["started_at"] < done["started_at"]]
        # At most the runs A had started by then, and one the worker may have taken meanwhile;
        # first-in first-out alone would have started all of the backlog first.
        assert len(ahead) <= started_before + 1, (started_before, len(ahead))
        queued = [r for r in a_runs if r["status_code"] == "queued"]
        assert queued and queued[0]["queue_position"] == 1
    finally:
        for run in backlog:
            requests.post(
                f"{server.base_url}/v1/runs/{run['id']}/cancellation",
                headers=server.headers(key_a),
                timeout=10,
            )
