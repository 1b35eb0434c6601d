"""PostgreSQL stopped under a running Pixelrun: 503 UNAVAILABLE with Retry-After, then recovery.

A private PostgreSQL server (not the shared one) is stopped by the test and started
again; Pixelrun is not restarted, and every run it accepted finishes exactly once.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pixelrun.store import Store

from .conftest import png_bytes
from .private_postgres import PrivatePostgres, postgres_bin
from .server import Server, wait_for

RUNS = "/v1/models/alibaba/qwen-image-edit-2511/runs"
IMAGE = "data:image/png;base64," + base64.b64encode(png_bytes(64, 48)).decode()

pytestmark = pytest.mark.postgres


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    bindir = postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    server = PrivatePostgres(bindir).init()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


def create(server: Server, steps: int = 1) -> requests.Response:
    body = {
        "input": {"prompt": "x", "image_urls": [IMAGE], "image_size": "256x256", "num_inference_steps": steps}
    }
    return requests.post(server.base_url + RUNS, json=body, headers=server.headers(), timeout=30)


def assert_unavailable(response: requests.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "UNAVAILABLE"
    assert int(response.headers["Retry-After"]) > 0


def test_store_outage_answers_503_and_recovers(postgres: PrivatePostgres, tmp_path: Path) -> None:
    server = Server(tmp_path, postgres.url).start()
    try:
        server.wait_key()
        server.wait_ready()
        before = create(server)
        assert before.status_code == 201
        done_before = server.wait_run(before.json()["id"])
        assert done_before["status_code"] == "succeeded"
        accepted = create(server, steps=8)  # still queued or running when the database goes
        assert accepted.status_code == 201
        postgres.stop()
        assert_unavailable(create(server))
        assert_unavailable(
            requests.get(
                f"{server.base_url}/v1/runs/{before.json()['id']}", headers=server.headers(), timeout=30
            )
        )
        assert_unavailable(requests.get(f"{server.base_url}/v1/runs", headers=server.headers(), timeout=30))
        assert_unavailable(requests.get(f"{server.base_url}/metrics", timeout=30))
        readiness = requests.get(f"{server.base_url}/v1/readiness", timeout=30)
        assert_unavailable(readiness)
        assert readiness.json()["checks"]["store"]["ok"] is False
        assert requests.get(f"{server.base_url}/v1/health", timeout=10).status_code == 200
        time.sleep(2)  # the worker and the background tasks meet the outage too
        postgres.start()
        wait_for(
            lambda: requests.get(f"{server.base_url}/v1/readiness", timeout=10).status_code == 200,
            timeout=60,
            interval=0.5,
        )
        after = create(server)
        assert after.status_code == 201, after.text
        for run_id in (accepted.json()["id"], after.json()["id"]):
            assert server.wait_run(run_id, timeout=90)["status_code"] == "succeeded"
        assert server.get_run(before.json()["id"])["status_code"] == "succeeded"
        store = Store(postgres.url)
        try:
            for run_id in (before.json()["id"], accepted.json()["id"], after.json()["id"]):
                finishes = [e for e in store.history.events(run_id) if e.to_status.is_terminal]
                assert len(finishes) == 1, (run_id, finishes)
        finally:
            store.close()
        # Nothing was restarted: neither the server nor its worker.
        assert server.process is not None and server.process.poll() is None
        assert "exited with" not in server.log_text()
    finally:
        server.stop()
