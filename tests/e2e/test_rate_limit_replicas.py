"""The per-key rate limit holds across two API processes on one PostgreSQL (docs/operations.md#protecting-the-service)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from .server import Server

MODEL_PATH = "/v1/models/alibaba/qwen-image-edit-2511/runs"
BODY = {"input": {"prompt": "x", "image_urls": ["https://example.com/a.png"]}}
LIMIT = 3
# A short window keeps the test fast; the counting is the same as with the default 60 s.
WINDOW_SECONDS = 6


@pytest.mark.postgres
def test_two_replicas_share_one_limit_and_retry_after_is_honoured(
    postgres_databases: object, tmp_path: Path
) -> None:
    database_url = postgres_databases.create()  # type: ignore[attr-defined]
    env = {
        "PIXELRUN_RATE_LIMIT_PER_MINUTE": str(LIMIT),
        "PIXELRUN_RATE_LIMIT_WINDOW_SECONDS": str(WINDOW_SECONDS),
        # No worker runs here: creates must be queued however slow the start-up was.
        "PIXELRUN_MODEL_GRACE_SECONDS": "-1",
    }
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    first = Server(tmp_path / "a", database_url, workers=0, **env)
    second = Server(tmp_path / "b", database_url, workers=0, **env)
    try:
        first.start()
        key = first.wait_key()
        first.wait_ready(need_worker=False)
        second.start()
        second.wait_ready(need_worker=False)

        def create(server: Server) -> requests.Response:
            return requests.post(
                server.base_url + MODEL_PATH, json=BODY, headers=server.headers(key), timeout=10
            )

        # Start early in a window, so that the creates below all fall into one.
        while time.time() % WINDOW_SECONDS > 1.0:
            time.sleep(0.05)
        statuses = [create(server).status_code for server in (first, second, first)]
        assert statuses == [201] * LIMIT
        refused = create(second)
        assert refused.status_code == 429, refused.text
        assert refused.json()["code"] == "RATE_LIMITED"
        retry_after = int(refused.headers["Retry-After"])
        assert 1 <= retry_after <= WINDOW_SECONDS
        assert create(first).status_code == 429  # the other replica counts the same key
        time.sleep(retry_after)
        assert create(second).status_code == 201
    finally:
        first.stop()
        second.stop()
