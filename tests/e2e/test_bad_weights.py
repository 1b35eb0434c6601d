"""`pixelrun serve --weights /nonexistent/dir`: back off, give up, say why, refuse creates.

One server for the module (SQLite): the supervisor limit and back-off are made small
through settings, the grace period short enough to pass during the test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from .server import Server, wait_for

RUNS = "/v1/models/alibaba/qwen-image-edit-2511/runs"
MODEL = "alibaba/qwen-image-edit-2511"
GRACE_SECONDS = 8.0
MAX_LOAD_FAILURES = 2
BODY = {"input": {"prompt": "make it blue", "image_urls": ["https://example.com/a.png"]}}


@dataclass
class Broken:
    server: Server
    started: float
    #: A create sent as soon as the API answered (within the grace period).
    first_create: requests.Response


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broken]:
    data_dir = tmp_path_factory.mktemp("bad-weights")
    server = Server(
        data_dir,
        f"sqlite:///{data_dir / 'pixelrun.db'}",
        PIXELRUN_WEIGHTS="/nonexistent/dir",
        PIXELRUN_WORKER_MAX_LOAD_FAILURES=str(MAX_LOAD_FAILURES),
        PIXELRUN_WORKER_RESTART_BACKOFF_SECONDS="0.2",
        PIXELRUN_MODEL_GRACE_SECONDS=str(GRACE_SECONDS),
    ).start()
    try:
        server.wait_key()
        server.wait_ready(need_worker=False)
        started = time.monotonic()
        first = requests.post(server.base_url + RUNS, json=BODY, headers=server.headers(), timeout=10)
        yield Broken(server, started, first)
    finally:
        server.stop()


def wait_given_up(server: Server) -> None:
    wait_for(lambda: "not restarting it" in server.log_text(), timeout=90, interval=0.2)


def test_a_create_within_the_grace_period_is_queued(broken: Broken) -> None:
    response = broken.first_create
    assert response.status_code == 201, response.text
    assert response.json()["status_code"] == "queued"


def test_the_supervisor_gives_up_and_readiness_names_the_reason(broken: Broken) -> None:
    server = broken.server
    wait_given_up(server)
    log = server.log_text()
    attempts = sum(line.startswith("error: weights /nonexistent/dir") for line in log.splitlines())
    assert attempts == MAX_LOAD_FAILURES, log[-3000:]
    assert "Traceback" not in log
    time.sleep(1.0)  # several back-off periods: nothing restarts any more
    assert server.log_text().count("\nerror: weights /nonexistent/dir") == attempts

    response = requests.get(server.base_url + "/v1/readiness", timeout=10)
    assert response.status_code == 503
    workers = response.json()["checks"]["workers"]
    failure = workers["failures"][MODEL]
    assert failure["reason"] == "not_found"
    assert "/nonexistent/dir" in failure["message"]
    assert f"not restarted after {MAX_LOAD_FAILURES} load failures" in failure["message"]
    assert "/nonexistent/dir" in workers["detail"]

    catalog = requests.get(
        f"{server.base_url}/v1/models/{MODEL}", headers=server.headers(), timeout=10
    ).json()
    assert catalog["availability"]["available"] is False
    assert catalog["availability"]["reason"] == "not_found"


def test_a_create_after_the_grace_period_is_503(broken: Broken) -> None:
    server = broken.server
    wait_given_up(server)
    time.sleep(max(0.0, broken.started + GRACE_SECONDS + 0.5 - time.monotonic()))
    response = requests.post(server.base_url + RUNS, json=BODY, headers=server.headers(), timeout=10)
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["code"] == "MODEL_UNAVAILABLE"
    assert "/nonexistent/dir" in body["message"]


def test_the_run_queued_within_the_grace_period_fails_once_it_is_over(broken: Broken) -> None:
    # No accepted run waits forever (docs/weights.md#runs-no-worker-takes).
    server = broken.server
    run_id = broken.first_create.json()["id"]

    def failed() -> bool:
        run = requests.get(f"{server.base_url}/v1/runs/{run_id}", headers=server.headers(), timeout=10).json()
        return run["status_code"] == "failed"

    wait_for(failed, timeout=120, interval=0.5)
    run = requests.get(f"{server.base_url}/v1/runs/{run_id}", headers=server.headers(), timeout=10).json()
    assert (run["failure_code"], run["cost"]) == ("model_unavailable", "0.000000")
    assert "/nonexistent/dir" in run["failure_message"]
