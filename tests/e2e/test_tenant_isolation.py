"""One key holder cannot slow or break another owner's runs (docs/security.md#isolation):
poisoned metadata is refused at create, and a run stored before the limit existed (one
that cannot be presented) ends only its own streams."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Iterator
from datetime import datetime
from email.utils import parsedate_to_datetime

import pytest
import requests

from pixelrun.store import NewRun, Store

from .conftest import png_bytes
from .server import Server

MODEL = "alibaba/qwen-image-edit-2511"
RUNS = f"/v1/models/{MODEL}/runs"
IMAGE = "data:image/png;base64," + base64.b64encode(png_bytes(64, 48)).decode()
INPUT = {"prompt": "make it blue", "image_urls": [IMAGE], "image_size": "256x256", "num_inference_steps": 2}


def nested(depth: int) -> dict[str, object]:
    value: dict[str, object] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.fixture
def victim_key(module_database_url: str) -> Iterator[str]:
    store = Store(module_database_url)
    try:
        owner = store.owners.ensure("victim")
        yield store.keys.create(owner.id, "victim")[1]
    finally:
        store.close()


def stream_names(server: Server, run_id: str, key: str, last_event_id: str | None = None) -> list[str]:
    headers = server.headers(key) | ({"Last-Event-ID": last_event_id} if last_event_id else {})
    names: list[str] = []
    with requests.get(
        f"{server.base_url}/v1/runs/{run_id}/stream", headers=headers, stream=True, timeout=(5, 90)
    ) as response:
        if response.status_code != 200:
            return [f"http {response.status_code}"]
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith("event: "):
                names.append(line.removeprefix("event: "))
                if names[-1] == "done":
                    break
    return names


def test_poisoned_metadata_is_refused_and_other_owners_are_unaffected(
    server: Server, victim_key: str, module_database_url: str
) -> None:
    attacker = server.wait_key()
    poisoned = {"input": INPUT, "metadata": nested(300)}
    response = requests.post(
        server.base_url + RUNS,
        json=poisoned,
        headers=server.headers(attacker) | {"Prefer": "wait=40"},
        timeout=30,
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "metadata"]
    assert requests.get(server.base_url + "/v1/runs", headers=server.headers(attacker), timeout=10).ok

    # A run that cannot be presented, as one created before the limit existed: its owner
    # keeps streaming it while the victim's run goes through the same stream hub.
    store = Store(module_database_url)
    try:
        attacker_id = store.keys.authenticate(attacker)
        assert attacker_id is not None
        legacy = store.runs.create(NewRun(attacker_id.owner_id, MODEL, INPUT, metadata=nested(300))).run
    finally:
        store.close()
    stop = threading.Event()

    def attack() -> None:
        while not stop.is_set():
            with contextlib.suppress(requests.RequestException):
                stream_names(server, legacy.id, attacker, last_event_id="0")

    attackers = [threading.Thread(target=attack, daemon=True) for _ in range(3)]
    for thread in attackers:
        thread.start()
    try:
        waited = requests.post(
            server.base_url + RUNS,
            json={"input": INPUT},
            headers=server.headers(victim_key) | {"Prefer": "wait=60"},
            timeout=120,
        )
        streamed = requests.post(
            server.base_url + RUNS, json={"input": INPUT}, headers=server.headers(victim_key), timeout=30
        ).json()
        names = stream_names(server, streamed["id"], victim_key)
    finally:
        stop.set()
        for thread in attackers:
            thread.join(30)
    assert waited.status_code == 201, waited.text
    run = waited.json()
    assert run["status_code"] == "succeeded", json.dumps(run)[:500]
    # The wait ended because the hub saw the run's `done`, not at the 60 s limit: both
    # times are the server's own (its Date header and the run's completion).
    answered = parsedate_to_datetime(waited.headers["Date"])
    assert (answered - datetime.fromisoformat(run["completed_at"])).total_seconds() < 30, run
    assert names[0] == "status" and names[-1] == "done", names
    # The bad run is reported on its own: a handful of lines, not one per poll.
    assert server.log_text().count(f"run {legacy.id} cannot be read") <= 2
