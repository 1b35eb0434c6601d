"""A half-shared deployment, as a newcomer builds it: two API processes on one PostgreSQL,
each with its own data directory and the default local storage (one of them with a
worker). Readiness fails on both, naming PIXELRUN_STORAGE_URL and the other directory;
an output written on one machine's disk answers, on the other, an error that says so.
One test over one pair of servers (pytest-xdist would start a pair per worker for two)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from .conftest import png_bytes
from .server import Server, wait_for

pytestmark = pytest.mark.postgres

RUNS = "/v1/models/alibaba/qwen-image-edit-2511/runs"


@pytest.fixture
def replicas(
    postgres_databases: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    database_url = postgres_databases.create()
    first = Server(tmp_path_factory.mktemp("machine-a"), database_url, workers=1).start()
    second: Server | None = None
    try:
        first.wait_key()
        first.wait_ready()  # alone, it is ready
        second = Server(tmp_path_factory.mktemp("machine-b"), database_url, workers=0).start()
        second.wait_ready(need_worker=False)
        second.key = first.key
        yield first, second
    finally:
        for server in (second, first):
            if server is not None:
                server.stop()


def test_a_half_shared_deployment_is_caught(replicas: tuple[Server, Server]) -> None:
    readiness_fails_on_both_naming_the_setting_and_the_other_directory(replicas)
    an_output_on_another_machines_disk_answers_an_error_that_says_so(replicas)


def readiness_fails_on_both_naming_the_setting_and_the_other_directory(
    replicas: tuple[Server, Server],
) -> None:
    first, second = replicas
    for server, other in ((first, second), (second, first)):

        def storage_check(server: Server = server) -> dict[str, Any] | None:
            response = requests.get(server.base_url + "/v1/readiness", timeout=5)
            check = response.json()["checks"]["storage"]
            return None if check["ok"] else {"status": response.status_code, **check}

        wait_for(lambda server=server: storage_check(server) is not None, timeout=30, interval=0.3)
        check = storage_check()
        assert check is not None and check["status"] == 503
        assert check["detail"].startswith(
            "PIXELRUN_STORAGE_URL differs between the processes that share this store"
        )
        other_files = other.log_path.parent / "files"
        assert f"local directory {other_files}" in check["detail"], check["detail"]


def an_output_on_another_machines_disk_answers_an_error_that_says_so(replicas: tuple[Server, Server]) -> None:
    first, second = replicas
    image = "data:image/png;base64," + base64.b64encode(png_bytes(64, 48)).decode()
    body = {
        "input": {"prompt": "x", "image_urls": [image], "image_size": "256x256", "num_inference_steps": 2}
    }
    # Created on the first (its inline image goes to the first's disk, where its worker reads
    # it), read on the second.
    created = requests.post(first.base_url + RUNS, json=body, headers=first.headers(), timeout=10)
    assert created.status_code == 201, created.text
    run = second.wait_run(created.json()["id"])  # computed by the worker beside the first
    assert run["status_code"] == "succeeded", run
    url = run["output"]["outputs"][0]["url"]
    assert url.startswith(second.base_url + "/v1/files/")
    missing = requests.get(url, timeout=10)
    assert missing.status_code == 404
    error = missing.json()
    assert error["code"] == "NOT_FOUND"
    assert "another machine's disk" in error["message"] and "PIXELRUN_STORAGE_URL" in error["message"]
    # The machine that wrote it serves the same signed link.
    assert requests.get(url.replace(second.base_url, first.base_url), timeout=10).status_code == 200
    # A link that is not valid still gets the plain answer (nothing is learnt by probing).
    forged = requests.get(url.replace("signature=", "signature=x"), timeout=10)
    assert forged.status_code == 404 and "another machine" not in forged.json()["message"]
