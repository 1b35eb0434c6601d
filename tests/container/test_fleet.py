"""An API container and two worker containers of the image, sharing only this machine's
PostgreSQL and an S3 server (moto, on loopback; the containers use the host's network):
a run succeeds with its output in the bucket; a worker container killed mid-run loses
nothing; a worker container stopped gracefully mid-run gives its run back within the
grace period.

One test over one set of containers, its steps in order: pytest-xdist spreads a module's
tests over its workers, and each would start a fleet of its own."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from PIL import Image

from e2e.server import free_port, wait_for
from pixelrun.store import Store

from .podman import BUILD_TIMEOUT_SECONDS, Container

pytestmark = [pytest.mark.container, pytest.mark.timeout(BUILD_TIMEOUT_SECONDS + 300), pytest.mark.postgres]

RUNS = "/v1/models/alibaba/qwen-image-edit-2511/runs"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


IMAGE = "data:image/png;base64," + base64.b64encode(_png()).decode()
PREFIX = "fleet"
#: The grace the worker containers get; one tiny denoising step takes well under a second.
GRACE_SECONDS = 20
#: Slow enough to be stopped mid-run: about 20-40 s of CPU on the tiny weights.
SLOW_RUN = {"image_size": "512x512", "num_inference_steps": 50, "acceleration": "none", "num_images": 2}


@dataclass
class Fleet:
    image: str
    env: dict[str, str]
    api: Container
    base_url: str
    key: str
    workers: list[Container]
    store: Store
    s3: Any
    bucket: str

    def start_worker(self, name: str) -> Container:
        worker = Container(
            self.image, ["worker", "--name", name], options=["--network", "host"], env=self.env
        )
        self.workers.append(worker.run())
        return worker

    def wait_workers(self, count: int) -> None:
        def ready() -> bool:
            for worker in self.workers:
                assert worker.state()[0] != "exited" or worker.state()[1] == 0, worker.logs()[-3000:]
            return len(self.store.workers.ready()) == count

        wait_for(ready, timeout=240, interval=0.5)

    def create(self, **input: Any) -> str:
        body = {"input": {"prompt": "make it blue", "image_urls": [IMAGE], **input}}
        headers = {"Authorization": f"Bearer {self.key}"}
        response = requests.post(self.base_url + RUNS, json=body, headers=headers, timeout=10)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def get(self, run_id: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.key}"}
        response = requests.get(f"{self.base_url}/v1/runs/{run_id}", headers=headers, timeout=10)
        response.raise_for_status()
        return response.json()

    def wait_run(self, run_id: str, timeout: float = 240) -> dict[str, Any]:
        wait_for(lambda: self.get(run_id)["status_code"] in {"succeeded", "failed", "canceled"}, timeout, 0.3)
        return self.get(run_id)

    def running_holder(self, run_id: str) -> Container:
        """The worker container computing `run_id`, once it is past its first step."""

        def running() -> bool:
            run = self.get(run_id)
            return run["status_code"] == "running" and (run["progress"] or {}).get("step", 0) >= 1

        wait_for(running, timeout=120, interval=0.1)
        record = self.store.workers.get(self.store.runs.get(run_id).worker_id)
        (holder,) = [w for w in self.workers if record.name == w.args[-1]]
        return holder

    def objects(self, run_id: str) -> list[str]:
        return self.s3.object_keys(self.bucket, f"{PREFIX}/runs/{run_id}/")


@pytest.fixture
def fleet(pixelrun_image: str, postgres_databases: Any, s3_server: Any) -> Iterator[Fleet]:
    database_url = postgres_databases.create()
    bucket = s3_server.new_bucket()
    env = {
        "PIXELRUN_DATABASE_URL": database_url,
        "PIXELRUN_STORAGE_URL": f"s3://{bucket}/{PREFIX}",
        "PIXELRUN_DEVICE": "cpu",
        "PIXELRUN_LEASE_SECONDS": "3",
        "PIXELRUN_HEARTBEAT_SECONDS": "0.5",
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        **s3_server.env(),
    }
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    api = Container(
        pixelrun_image,
        ["serve", "--workers", "0", "--host", "127.0.0.1", "--port", str(port)],
        options=["--network", "host"],
        env={**env, "PIXELRUN_PUBLIC_BASE_URL": base_url},
    ).run()
    store = Store(database_url)
    fleet = Fleet(pixelrun_image, env, api, base_url, "", [], store, s3_server, bucket)
    try:
        fleet.key = api.key()
        fleet.start_worker("worker-1")
        fleet.start_worker("worker-2")
        fleet.wait_workers(2)
        yield fleet
    finally:
        store.close()
        for container in (*fleet.workers, api):
            container.remove()


def test_a_fleet_of_containers_loses_no_run(fleet: Fleet) -> None:
    a_run_succeeds_with_its_output_in_the_bucket(fleet)
    a_worker_container_killed_mid_run_loses_nothing(fleet)
    a_worker_container_stopped_mid_run_gives_its_run_back_within_the_grace(fleet)


def a_run_succeeds_with_its_output_in_the_bucket(fleet: Fleet) -> None:
    run = fleet.wait_run(fleet.create(image_size="256x256", num_inference_steps=2, seed=1))
    assert run["status_code"] == "succeeded", run
    (item,) = run["output"]["outputs"]
    assert item["url"].startswith(f"{fleet.s3.endpoint}/{fleet.bucket}/{PREFIX}/runs/{run['id']}/0.png?")
    assert fleet.objects(run["id"]) == [f"{PREFIX}/runs/{run['id']}/0.png"]
    assert len(requests.get(item["url"], timeout=10).content) == item["file_size"]


def a_worker_container_killed_mid_run_loses_nothing(fleet: Fleet) -> None:
    run_id = fleet.create(seed=2, **SLOW_RUN)
    victim = fleet.running_holder(run_id)
    victim.kill()
    run = fleet.wait_run(run_id)
    assert run["status_code"] == "succeeded", run
    statuses = [event.to_status for event in fleet.store.history.events(run_id)]
    assert statuses.count("succeeded") == 1 and "queued" in statuses[3:], statuses
    assert fleet.objects(run_id) == [f"{PREFIX}/runs/{run_id}/0.png", f"{PREFIX}/runs/{run_id}/1.png"]
    # Back to two workers for the next step: the same container, started again.
    victim.start()
    fleet.wait_workers(2)


def a_worker_container_stopped_mid_run_gives_its_run_back_within_the_grace(fleet: Fleet) -> None:
    run_id = fleet.create(seed=3, **SLOW_RUN)
    victim = fleet.running_holder(run_id)
    code, seconds = victim.stop(GRACE_SECONDS)
    # It left on its own, well before podman's SIGKILL, and said it gave the run back.
    assert code == 0 and seconds < GRACE_SECONDS, (code, seconds, victim.logs()[-3000:])
    assert "run returned to the queue" in victim.logs()
    events = fleet.store.history.events(run_id)
    returned = [e for e in events if e.to_status == "queued" and (e.detail or {}).get("reason")]
    assert [e.detail["reason"] for e in returned] == ["worker_shutdown"], events
    run = fleet.wait_run(run_id)
    assert run["status_code"] == "succeeded", run
    assert [e.to_status for e in fleet.store.history.events(run_id)].count("succeeded") == 1
    assert fleet.objects(run_id) == [f"{PREFIX}/runs/{run_id}/0.png", f"{PREFIX}/runs/{run_id}/1.png"]
