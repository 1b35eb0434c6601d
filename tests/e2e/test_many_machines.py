"""Many machines for real: an API (`serve --workers 0`, data dir A) and two `pixelrun worker`
processes (data dirs B and C) that share nothing but PostgreSQL and an S3 bucket (moto's
server, in its own process). Outputs go straight to the bucket and download from their
presigned URLs; a worker killed mid-run leaves the run to the other, once, with no orphans."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from pixelrun.store import Store

from .conftest import png_bytes
from .server import Server, Worker, wait_for

pytestmark = pytest.mark.postgres

RUNS = "/v1/models/alibaba/qwen-image-edit-2511/runs"
IMAGE = "data:image/png;base64," + base64.b64encode(png_bytes(64, 48)).decode()
PREFIX = "deploy1"


@dataclass
class Cluster:
    api: Server
    workers: dict[str, Worker]  # by pid
    store: Store
    s3: Any
    bucket: str
    dirs: list[Path]

    def objects(self, run_id: str) -> list[str]:
        return self.s3.object_keys(self.bucket, f"{PREFIX}/runs/{run_id}/")

    def holder(self, run_id: str) -> Worker:
        record = self.store.workers.get(self.store.runs.get(run_id).worker_id)
        return self.workers[str(record.info["pid"])]

    def create(self, **input: Any) -> str:
        body = {"input": {"prompt": "make it blue", "image_urls": [IMAGE], **input}}
        response = requests.post(self.api.base_url + RUNS, json=body, headers=self.api.headers(), timeout=10)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


@pytest.fixture(scope="module")
def cluster(
    postgres_databases: Any, s3_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    database_url = postgres_databases.create()
    bucket = s3_server.new_bucket()
    # Only the store, the bucket and the signing secret are shared (see docs/deployment.md).
    shared = {"PIXELRUN_STORAGE_URL": f"s3://{bucket}/{PREFIX}", **s3_server.env()}
    dirs = [tmp_path_factory.mktemp(name) for name in ("api-a", "worker-b", "worker-c")]
    api = Server(dirs[0], database_url, workers=0, **shared).start()
    store = Store(database_url)
    workers: list[Worker] = []
    try:
        api.wait_key()
        api.wait_ready(need_worker=False)
        workers = [
            Worker(directory, database_url, name, **shared).start()
            for directory, name in ((dirs[1], "w-b"), (dirs[2], "w-c"))
        ]

        def ready() -> bool:
            for worker in workers:
                if worker.process is not None and worker.process.poll() is not None:
                    raise RuntimeError(f"worker exited:\n{worker.log_text()[-3000:]}")
            return len(store.workers.ready()) == 2

        wait_for(ready, timeout=180, interval=0.3)
        yield Cluster(api, {str(w.pid): w for w in workers}, store, s3_server, bucket, dirs)
    finally:
        store.close()
        for process in (*workers, api):
            process.stop()


def test_ten_runs_succeed_and_every_output_downloads_from_the_bucket(cluster: Cluster) -> None:
    run_ids = [cluster.create(image_size="256x256", num_inference_steps=2, seed=i) for i in range(10)]
    runs = [cluster.api.wait_run(run_id, timeout=240) for run_id in run_ids]
    assert [run["status_code"] for run in runs] == ["succeeded"] * 10, [
        run["failure_message"] for run in runs
    ]
    served_by = {cluster.store.runs.get(run_id).worker_id for run_id in run_ids}
    for run in runs:
        (item,) = run["output"]["outputs"]
        # A presigned GET on the bucket: the API carries no image bytes.
        assert item["url"].startswith(
            cluster.s3.endpoint + f"/{cluster.bucket}/{PREFIX}/runs/{run['id']}/0.png?"
        )
        response = requests.get(item["url"], timeout=10)
        assert response.status_code == 200
        assert len(response.content) == item["file_size"]
        assert Image.open(io.BytesIO(response.content)).size == (256, 256)
        assert cluster.objects(run["id"]) == [f"{PREFIX}/runs/{run['id']}/0.png"]
    assert len(served_by) >= 1
    # Nothing was written to any machine's data directory on S3 storage.
    for directory in cluster.dirs:
        assert not (directory / "files").exists(), directory


def test_an_uploaded_asset_is_read_by_a_worker_from_the_bucket(cluster: Cluster) -> None:
    data = png_bytes(96, 48)
    api = cluster.api
    started = requests.post(
        f"{api.base_url}/v1/asset-uploads",
        json={"filename": "wide.png", "mime_type": "image/png", "size_bytes": len(data)},
        headers=api.headers(),
        timeout=10,
    ).json()
    # The bytes go straight to the bucket, not through the API.
    assert started["upload_url"].startswith(cluster.s3.endpoint)
    put = requests.put(started["upload_url"], data=data, headers={"Content-Type": "image/png"}, timeout=10)
    assert put.status_code == 200
    asset = requests.post(
        f"{api.base_url}/v1/asset-uploads/{started['asset_id']}/confirmations",
        headers=api.headers(),
        timeout=10,
    ).json()
    assert (asset["width"], asset["height"]) == (96, 48)
    body = {
        "input": {
            "prompt": "x",
            "image_urls": [asset["url"]],
            "num_inference_steps": 2,
            "image_size": "256x256",
        }
    }
    response = requests.post(api.base_url + RUNS, json=body, headers=api.headers(), timeout=10)
    assert response.status_code == 201, response.text
    run = api.wait_run(response.json()["id"], timeout=120)
    assert run["status_code"] == "succeeded", run
    logs = requests.get(f"{api.base_url}/v1/runs/{run['id']}/logs", headers=api.headers(), timeout=10).json()
    assert "fetched 1 input image(s): 96x48" in " ".join(line["message"] for line in logs)


def test_a_worker_killed_mid_run_leaves_the_run_to_the_other_once(cluster: Cluster) -> None:
    run_id = cluster.create(
        image_size="512x512", num_inference_steps=50, acceleration="none", num_images=2, seed=3
    )

    def running() -> bool:
        run = cluster.api.get_run(run_id)
        return run["status_code"] == "running" and (run["progress"] or {}).get("step", 0) >= 1

    wait_for(running, timeout=120)
    victim = cluster.holder(run_id)
    victim.kill()
    run = cluster.api.wait_run(run_id, timeout=240)
    assert run["status_code"] == "succeeded", run
    statuses = [event.to_status for event in cluster.store.history.events(run_id)]
    assert statuses.count("succeeded") == 1 and "queued" in statuses[3:], statuses
    assert cluster.holder(run_id) is not victim
    assert cluster.objects(run_id) == [f"{PREFIX}/runs/{run_id}/0.png", f"{PREFIX}/runs/{run_id}/1.png"]
    for item in run["output"]["outputs"]:
        assert requests.get(item["url"], timeout=10).status_code == 200
