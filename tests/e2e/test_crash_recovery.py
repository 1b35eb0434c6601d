"""Crashes never lose a run: a worker killed with SIGKILL, a worker stopped with SIGTERM, an API killed under load."""

from __future__ import annotations

import base64
import signal
import threading
import time
from pathlib import Path

import requests

from pixelrun.store import Store

from .conftest import png_bytes
from .server import Server, Worker, wait_for

RUNS = "/v1/models/alibaba/qwen-image-edit-2511/runs"
IMAGE = "data:image/png;base64," + base64.b64encode(png_bytes(64, 48)).decode()


def api_only(data_dir: Path, database_url: str) -> Server:
    server = Server(data_dir, database_url, workers=0).start()
    server.wait_key()
    server.wait_ready(need_worker=False)
    return server


def long_run(server: Server) -> str:
    body = {
        "input": {
            "prompt": "make it blue",
            "image_urls": [IMAGE],
            "image_size": "512x512",
            "num_inference_steps": 50,
            "acceleration": "none",
            "seed": 4,
        }
    }
    response = requests.post(server.base_url + RUNS, json=body, headers=server.headers(), timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def running(server: Server, run_id: str) -> bool:
    run = server.get_run(run_id)
    return run["status_code"] == "running" and (run["progress"] or {}).get("step", 0) >= 1


def start_two_workers(data_dir: Path, database_url: str, store: Store) -> dict[str, Worker]:
    """Two workers loading side by side (one start-up wait instead of two), by pid."""
    workers = [Worker(data_dir, database_url, name).start() for name in ("w1", "w2")]

    def ready() -> bool:
        for worker in workers:
            if worker.process is not None and worker.process.poll() is not None:
                raise RuntimeError(
                    f"worker exited with {worker.process.returncode}:\n{worker.log_text()[-3000:]}"
                )
        return len(store.workers.ready()) == 2

    try:
        wait_for(ready, timeout=180, interval=0.3)
    except BaseException:
        for worker in workers:
            worker.stop()
        raise
    return {str(worker.pid): worker for worker in workers}


def holder(store: Store, run_id: str, workers: dict[str, Worker]) -> Worker:
    """The worker process that holds a run."""
    record = store.workers.get(store.runs.get(run_id).worker_id)
    return workers[str(record.info["pid"])]


def test_worker_killed_mid_run_is_requeued_and_finishes_once(database_url: str, data_dir: Path) -> None:
    server = api_only(data_dir, database_url)
    store = Store(database_url)
    workers: dict[str, Worker] = {}
    try:
        workers = start_two_workers(data_dir, database_url, store)
        run_id = long_run(server)
        wait_for(lambda: running(server, run_id))
        victim = holder(store, run_id, workers)
        victim.kill()
        run = server.wait_run(run_id, timeout=180)
        assert run["status_code"] == "succeeded", run
        statuses = [event.to_status for event in store.history.events(run_id)]
        assert statuses.count("succeeded") == 1
        assert statuses[:3] == ["queued", "dispatching", "running"]
        assert "queued" in statuses[3:]  # returned to the queue once the killed worker's lease expired
        assert holder(store, run_id, workers) is not victim
        logs = requests.get(
            f"{server.base_url}/v1/runs/{run_id}/logs", headers=server.headers(), timeout=10
        ).json()
        text = " ".join(line["message"] for line in logs)
        assert "(attempt 1)" in text and "(attempt 2)" in text
        files = list((data_dir / "files" / "runs" / run_id).iterdir())
        assert [path.name for path in files] == ["0.png"]
    finally:
        store.close()
        for process in (*workers.values(), server):
            process.stop()


def test_sigterm_returns_the_current_run_to_the_queue(data_dir: Path) -> None:
    # The signal path is the same on both back ends (requeue is covered on both in tests/store).
    database_url = f"sqlite:///{data_dir / 'pixelrun.db'}"
    server = api_only(data_dir, database_url)
    store = Store(database_url)
    workers: dict[str, Worker] = {}
    try:
        workers = start_two_workers(data_dir, database_url, store)
        run_id = long_run(server)
        wait_for(lambda: running(server, run_id))
        first = holder(store, run_id, workers)
        assert first.stop(signal.SIGTERM, timeout=30) == 0
        requeued = [event.to_status for event in store.history.events(run_id)]
        assert requeued[:4] == ["queued", "dispatching", "running", "queued"], requeued
        assert server.wait_run(run_id, timeout=180)["status_code"] == "succeeded"
        assert holder(store, run_id, workers) is not first
    finally:
        store.close()
        for process in (*workers.values(), server):
            process.stop()


def test_api_killed_under_load_loses_no_accepted_run(database_url: str, data_dir: Path) -> None:
    server = api_only(data_dir, database_url)
    key = server.key
    worker = Worker(data_dir, database_url, "w1").start()
    accepted: list[str] = []
    stop = threading.Event()
    body = {
        "input": {"prompt": "x", "image_urls": [IMAGE], "image_size": "256x256", "num_inference_steps": 2}
    }

    def load() -> None:
        while not stop.is_set():
            try:
                response = requests.post(
                    f"http://127.0.0.1:{server.port}{RUNS}",
                    json=body,
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=5,
                )
                if response.status_code == 201:
                    accepted.append(response.json()["id"])
            except requests.RequestException:
                time.sleep(0.05)

    client = threading.Thread(target=load)
    client.start()
    restarted = None
    try:
        wait_for(lambda: len(accepted) >= 5, timeout=30)
        server.kill()
        restarted = Server(data_dir, database_url, workers=0, port=server.port).start()
        restarted.key = key
        restarted.wait_ready(need_worker=False)
        count_after_restart = len(accepted)
        wait_for(lambda: len(accepted) >= count_after_restart + 5, timeout=30)
        stop.set()
        client.join(10)
        for run_id in accepted:
            assert restarted.wait_run(run_id, timeout=120)["status_code"] == "succeeded"
        listed = requests.get(
            f"{restarted.base_url}/v1/runs?limit=500", headers=restarted.headers(), timeout=10
        ).json()["items"]
        assert set(accepted) <= {run["id"] for run in listed}
    finally:
        stop.set()
        client.join(10)
        for process in (worker, restarted, server):
            if process is not None:
                process.stop()


def test_serve_never_leaves_orphan_workers(data_dir: Path) -> None:
    database_url = f"sqlite:///{data_dir / 'pixelrun.db'}"
    store = Store(database_url)

    def worker_pids() -> list[int]:
        return [worker.info["pid"] for worker in store.workers.ready()]

    for sig in (signal.SIGTERM, signal.SIGKILL):
        server = Server(data_dir, database_url, workers=1).start()
        try:
            server.wait_ready()
            (pid,) = worker_pids()
            server.stop(sig)
            wait_for(lambda pid=pid: not Path(f"/proc/{pid}").exists(), timeout=30)
        finally:
            server.stop()
    store.close()
