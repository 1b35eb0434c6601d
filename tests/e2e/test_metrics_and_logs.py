"""`/metrics` and the run status log lines, through a real server and worker.

One `pixelrun serve` per back end with a metrics token and JSON logs; the figures are
compared before and after real runs (succeeded, failed, canceled) and a callback
delivery that needs a retry.
"""

from __future__ import annotations

import base64
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from metrics_rows import assert_figures_match_rows, covered
from pixelrun.store import Store

from .conftest import png_bytes
from .server import Server, wait_for

RUNS = "/v1/models/alibaba/qwen-image-edit-2511/runs"
MODEL = "alibaba/qwen-image-edit-2511"
IMAGE = "data:image/png;base64," + base64.b64encode(png_bytes(64, 48)).decode()
TOKEN = "metrics-secret-token"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Hook:
    """A webhook receiver that answers 500 once, then 200."""

    def __init__(self) -> None:
        self.answers: list[int] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                answer = 500 if not outer.answers else 200
                outer.answers.append(answer)
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ops_database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database of this module's own: the package's shared server must find an empty
    store (it prints its first key), and the figures here must be this server's alone."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('ops-db') / 'pixelrun.db'}"
    return request.getfixturevalue("postgres_databases").create()


@pytest.fixture(scope="module")
def ops_server(ops_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(
        tmp_path_factory.mktemp("ops"),
        ops_database_url,
        PIXELRUN_METRICS_TOKEN=TOKEN,
        PIXELRUN_LOG_FORMAT="json",
    ).start()
    try:
        server.wait_key()
        server.wait_ready()
        yield server
    finally:
        server.stop()


def scrape(server: Server) -> Samples:
    response = requests.get(
        server.base_url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        assert family.name.startswith("pixelrun_"), family.name
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def create(server: Server, callback_url: str | None = None, **input_fields: object) -> dict[str, Any]:
    body: dict[str, Any] = {
        "input": {"prompt": "make it blue", "image_urls": [IMAGE], "image_size": "256x256", **input_fields}
    }
    if callback_url:
        body["callback_url"] = callback_url
    response = requests.post(server.base_url + RUNS, json=body, headers=server.headers(), timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def test_metrics_token(ops_server: Server) -> None:
    url = ops_server.base_url + "/metrics"
    missing = requests.get(url, timeout=10)
    assert missing.status_code == 401 and missing.json()["code"] == "UNAUTHORIZED"
    wrong = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401
    assert requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).status_code == 200


def test_metrics_move_with_real_runs(ops_server: Server) -> None:
    before = scrape(ops_server)
    hook = Hook()
    try:
        succeeded = create(ops_server, callback_url=hook.url, num_inference_steps=2)
        failed = create(ops_server, image_urls=["data:image/png;base64,bm9wZQ=="])
        long = create(ops_server, image_size="512x512", num_inference_steps=50, acceleration="none")
        response = requests.post(
            f"{ops_server.base_url}/v1/runs/{long['id']}/cancellation",
            headers=ops_server.headers(),
            timeout=10,
        )
        assert response.status_code == 201
        done = ops_server.wait_run(succeeded["id"])
        assert done["status_code"] == "succeeded"
        assert ops_server.wait_run(failed["id"])["status_code"] == "failed"
        wait_for(lambda: hook.answers == [500, 200], timeout=60)
    finally:
        hook.close()

    after = wait_for_scrape(ops_server, before)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("pixelrun_runs_created_total", model=MODEL) == 3
    assert delta("pixelrun_runs_finished_total", model=MODEL, status="succeeded", failure_code="") == 1
    assert (
        delta("pixelrun_runs_finished_total", model=MODEL, status="failed", failure_code="input_fetch_failed")
        == 1
    )
    assert delta("pixelrun_runs_finished_total", model=MODEL, status="canceled", failure_code="") == 1
    for status in ("succeeded", "failed", "canceled"):
        assert delta("pixelrun_run_duration_seconds_count", model=MODEL, status=status) == 1

    timing = done["output"]["timing"]
    stage_keys = {
        "queue_wait": "queue_ms",
        "input_fetch": "fetch_ms",
        "inference": "inference_ms",
        "safety": "safety_ms",
        "encode_store": "store_ms",
        "total": "total_ms",
    }
    for stage, key in stage_keys.items():
        assert delta("pixelrun_run_stage_duration_seconds_count", model=MODEL, stage=stage) == 1, stage
        seconds = delta("pixelrun_run_stage_duration_seconds_sum", model=MODEL, stage=stage)
        assert seconds == pytest.approx(timing[key] / 1000, abs=1e-6), stage
        # The observation lands in exactly the buckets at or above its value.
        assert delta("pixelrun_run_stage_duration_seconds_bucket", model=MODEL, stage=stage, le="+Inf") == 1
    assert (
        delta("pixelrun_transformer_passes_total", model=MODEL)
        == done["output"]["model_data"]["transformer_forwards"]
        > 0
    )

    assert delta("pixelrun_callback_delivery_attempts_total", outcome="retried", attempt="1") == 1
    assert delta("pixelrun_callback_delivery_attempts_total", outcome="succeeded", attempt="2") == 1

    assert value(after, "pixelrun_queue_depth", model=MODEL) == 0
    assert value(after, "pixelrun_queue_oldest_age_seconds", model=MODEL) == 0
    assert (
        value(after, "pixelrun_workers", state="ready") + value(after, "pixelrun_workers", state="busy") == 1
    )
    ages = [v for (name, _), v in after.items() if name == "pixelrun_worker_heartbeat_age_seconds"]
    assert len(ages) == 1 and 0 <= ages[0] < 10
    loads = [v for (name, _), v in after.items() if name == "pixelrun_worker_model_load_seconds"]
    assert len(loads) == 1 and loads[0] > 0
    # CPU worker: no GPU memory figures at all (absent, not 0).
    assert not [name for name, _ in after if name.startswith("pixelrun_worker_gpu_memory")]


def wait_for_scrape(server: Server, before: Samples) -> Samples:
    """The callback's second attempt is recorded just after the receiver answered it."""
    result: dict[str, Samples] = {}

    def recorded() -> bool:
        result["after"] = scrape(server)
        return value(
            result["after"], "pixelrun_callback_delivery_attempts_total", outcome="succeeded", attempt="2"
        ) > value(before, "pixelrun_callback_delivery_attempts_total", outcome="succeeded", attempt="2")

    wait_for(recorded, timeout=30, interval=0.2)
    return result["after"]


def test_queue_depth_and_age_while_waiting(ops_server: Server) -> None:
    blocker = create(ops_server, image_size="512x512", num_inference_steps=50, acceleration="none")
    waiting = [create(ops_server, num_inference_steps=1) for _ in range(2)]
    try:
        wait_for(lambda: ops_server.get_run(blocker["id"])["status_code"] == "running", timeout=60)
        samples = scrape(ops_server)
        assert value(samples, "pixelrun_queue_depth", model=MODEL) == 2
        assert value(samples, "pixelrun_queue_oldest_age_seconds", model=MODEL) > 0
        assert value(samples, "pixelrun_runs_in_progress", model=MODEL, status="running") == 1
        assert value(samples, "pixelrun_workers", state="busy") == 1
    finally:
        for run in (blocker, *waiting):
            requests.post(
                f"{ops_server.base_url}/v1/runs/{run['id']}/cancellation",
                headers=ops_server.headers(),
                timeout=10,
            )


def test_json_logs_have_one_line_per_status_change(ops_server: Server) -> None:
    run = ops_server.wait_run(create(ops_server, num_inference_steps=1)["id"])
    assert run["status_code"] == "succeeded"
    log_path = Path(ops_server.log_path)

    def status_lines() -> list[dict[str, Any]]:
        entries = []
        for line in log_path.read_text().splitlines():
            if line.startswith("{"):
                entry = json.loads(line)  # every JSON line parses
                # Worker and API start-up included: no library says anything at INFO.
                assert entry["level"] != "INFO" or entry["logger"].startswith("pixelrun"), entry
                if entry.get("logger") == "pixelrun.runs.status" and entry.get("run_id") == run["id"]:
                    entries.append(entry)
        return entries

    wait_for(lambda: len(status_lines()) >= 4, timeout=10)
    lines = status_lines()
    assert [(e["from_status"], e["to_status"]) for e in lines] == [
        (None, "queued"),
        ("queued", "dispatching"),
        ("dispatching", "running"),
        ("running", "succeeded"),
    ]
    api_pid = ops_server.pid
    assert lines[0]["pid"] == api_pid and lines[-1]["pid"] != api_pid  # API and worker processes
    for entry in lines:
        assert entry["owner_id"] and entry["model"] == MODEL and entry["level"] == "INFO"
    assert lines[1]["queue_wait_s"] >= 0
    assert lines[-1]["total_s"] >= lines[-1]["running_s"] >= 0


def test_figures_equal_the_rows_and_survive_a_restart(ops_server: Server, ops_database_url: str) -> None:
    """After the real runs of this module: every counter and histogram equals what the rows
    say; a restarted API process reports the same totals at its first scrape (docs/operations.md)."""
    store = Store(ops_database_url)
    try:

        def settled() -> bool:
            samples = scrape(ops_server)
            queued = [v for (name, _), v in samples.items() if name == "pixelrun_queue_depth"]
            running = [v for (name, _), v in samples.items() if name == "pixelrun_runs_in_progress"]
            return sum(queued) + sum(running) == 0

        wait_for(settled, timeout=60, interval=0.5)  # the previous test's cancels reached the worker
        before = scrape(ops_server)
        assert_figures_match_rows(before, store.engine)
        finished = [v for (name, _), v in covered(before).items() if name == "pixelrun_runs_finished_total"]
        assert sum(finished) >= 4
        ops_server.stop()
        ops_server.start()
        ops_server.wait_ready(need_worker=False)
        first = scrape(ops_server)
        assert covered(first) == covered(before)
        assert_figures_match_rows(first, store.engine)
    finally:
        store.close()
