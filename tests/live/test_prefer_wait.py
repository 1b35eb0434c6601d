"""`Prefer: wait[=N]` on create (docs/api.md#waiting-prefer-wait) against a real server and worker."""

from __future__ import annotations

import time

from .conftest import Live
from .runs import cancel, create, create_blocker


def test_a_short_run_comes_back_terminal_in_the_create_response(live: Live) -> None:
    response = create(live, headers={"Prefer": "wait=60"}, num_inference_steps=1)
    assert response.status_code == 201
    assert response.headers["preference-applied"] == "wait=60"
    run = response.json()
    assert run["status_code"] == "succeeded" and run["output"]["outputs"][0]["url"]


def test_a_long_run_comes_back_after_n_seconds_not_terminal(live: Live) -> None:
    blocker = create_blocker(live)
    try:
        started = time.monotonic()
        response = create(live, headers={"Prefer": "wait=1"})
        elapsed = time.monotonic() - started
        assert response.status_code == 201
        assert response.headers["preference-applied"] == "wait=1"
        assert response.json()["status_code"] == "queued"
        assert 0.9 <= elapsed < 10
        cancel(live, response.json()["id"])
    finally:
        cancel(live, blocker["id"])


def test_a_malformed_prefer_header_is_ignored(live: Live) -> None:
    blocker = create_blocker(live)
    try:
        for prefer in ("wait=soon", "wait=0", "wait=-3", "respond-async"):
            started = time.monotonic()
            response = create(live, headers={"Prefer": prefer})
            assert response.status_code == 201, response.text
            assert "preference-applied" not in response.headers
            assert response.json()["status_code"] == "queued" and time.monotonic() - started < 5
            cancel(live, response.json()["id"])
    finally:
        cancel(live, blocker["id"])
