"""The callback routes (docs/api.md#endpoints, docs/callbacks.md) through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from callback_helpers import FinishRun, MakeDispatcher
from callback_receiver import Receiver
from fastapi.testclient import TestClient

from pixelrun.api import create_app
from pixelrun.config import Settings
from pixelrun.runs import RunStatus
from pixelrun.store import NewRun, Owner, Store

BASE_URL = "http://pixelrun.test"


@pytest.fixture
def api(store: Store, tmp_path: Path) -> Iterator[TestClient]:
    # No background dispatcher: these tests drive dispatchers by hand, and one running in
    # the app would race them for the deliveries.
    settings = Settings(
        data_dir=tmp_path / "data", public_base_url=BASE_URL, signing_secret="s" * 32, background_tasks=False
    )
    with TestClient(create_app(settings, store), base_url=BASE_URL) as client:
        yield client


@pytest.fixture
def auth(store: Store, owner: Owner) -> dict[str, str]:
    _, key = store.keys.create(owner.id, "test")
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def other_auth(store: Store) -> dict[str, str]:
    other = store.owners.ensure("globex")
    _, key = store.keys.create(other.id, "test")
    return {"Authorization": f"Bearer {key}"}


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and body["message"], body
    return body


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/runs/r1/callback"),
        ("POST", "/v1/runs/r1/callback-redeliveries"),
        ("POST", "/v1/callback-secrets"),
        ("GET", "/v1/callback-secrets"),
        ("DELETE", "/v1/callback-secrets/cbs_1"),
    ],
)
def test_every_route_needs_a_key(api: TestClient, method: str, path: str) -> None:
    _error(api.request(method, path, json={"label": "x"}), 401, "UNAUTHORIZED")


def test_secrets_are_shown_once_listed_without_them_and_revoked(
    api: TestClient, auth: dict[str, str], other_auth: dict[str, str]
) -> None:
    created = api.post("/v1/callback-secrets", json={"label": "prod"}, headers=auth)
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"id", "label", "plain_secret", "created_at"}
    assert body["label"] == "prod" and body["plain_secret"].startswith("whsec_")
    assert body["created_at"].endswith("+00:00")

    listed = api.get("/v1/callback-secrets", headers=auth)
    assert listed.status_code == 200
    assert listed.json() == [{"id": body["id"], "label": "prod", "created_at": body["created_at"]}]
    assert body["plain_secret"] not in listed.text
    assert api.get("/v1/callback-secrets", headers=other_auth).json() == []

    _error(api.delete(f"/v1/callback-secrets/{body['id']}", headers=other_auth), 404, "NOT_FOUND")
    deleted = api.delete(f"/v1/callback-secrets/{body['id']}", headers=auth)
    assert deleted.status_code == 204 and deleted.content == b""
    _error(api.delete(f"/v1/callback-secrets/{body['id']}", headers=auth), 404, "NOT_FOUND")
    assert api.get("/v1/callback-secrets", headers=auth).json() == []


@pytest.mark.parametrize(
    "body", [{}, {"label": ""}, {"label": "x" * 201}, {"label": "a", "secret": "whsec_x"}]
)
def test_a_bad_secret_request_is_a_validation_error(
    api: TestClient, auth: dict[str, str], body: dict[str, Any]
) -> None:
    _error(api.post("/v1/callback-secrets", json=body, headers=auth), 422, "VALIDATION_ERROR")


def test_history_shows_deliveries_and_attempts(
    api: TestClient,
    auth: dict[str, str],
    other_auth: dict[str, str],
    finish_run: FinishRun,
    make_dispatcher: MakeDispatcher,
    receivers: Callable[..., Receiver],
) -> None:
    receiver = receivers(statuses=[500])
    run = finish_run(receiver.url())
    path = f"/v1/runs/{run.id}/callback"

    (pending,) = api.get(path, headers=auth).json()
    assert pending["status_code"] == "pending"
    assert (pending["attempt_count"], pending["max_attempts"], pending["payload"]) == (0, 3, None)
    assert pending["attempts"] == [] and pending["completed_at"] is None
    assert pending["next_attempt_at"].endswith("+00:00")

    assert asyncio.run(make_dispatcher().deliver_due_once()) == 1
    (retrying,) = api.get(path, headers=auth).json()
    assert set(retrying) == {
        "id",
        "run_id",
        "callback_url",
        "status_code",
        "attempt_count",
        "max_attempts",
        "next_attempt_at",
        "payload",
        "created_at",
        "completed_at",
        "attempts",
    }
    assert (retrying["id"], retrying["run_id"], retrying["callback_url"]) == (
        pending["id"],
        run.id,
        receiver.url(),
    )
    assert (retrying["status_code"], retrying["attempt_count"]) == ("pending", 1)
    assert retrying["payload"]["event"] == "run.completed" and retrying["payload"]["run_id"] == run.id
    (attempt,) = retrying["attempts"]
    assert set(attempt) == {
        "attempt_number",
        "status_code",
        "response_time_ms",
        "error_message",
        "created_at",
    }
    assert (attempt["attempt_number"], attempt["status_code"], attempt["error_message"]) == (
        1,
        500,
        "HTTP 500",
    )
    assert attempt["created_at"].endswith("+00:00")

    _error(api.get(path, headers=other_auth), 404, "RUN_NOT_FOUND")
    _error(api.get("/v1/runs/nope/callback", headers=auth), 404, "RUN_NOT_FOUND")
    quiet = finish_run(None)
    assert api.get(f"/v1/runs/{quiet.id}/callback", headers=auth).json() == []


def test_redelivery(
    api: TestClient,
    store: Store,
    owner: Owner,
    auth: dict[str, str],
    other_auth: dict[str, str],
    finish_run: FinishRun,
    make_dispatcher: MakeDispatcher,
    receivers: Callable[..., Receiver],
) -> None:
    receiver = receivers()
    run = finish_run(receiver.url(), RunStatus.FAILED)
    path = f"/v1/runs/{run.id}/callback-redeliveries"
    _error(api.post(path, headers=auth), 409, "CONFLICT")  # the first delivery is still pending

    woken: list[bool] = []

    class FakeDispatcher:
        def wake(self) -> None:
            woken.append(True)

    assert asyncio.run(make_dispatcher().deliver_due_once()) == 1
    _error(api.post(path, headers=other_auth), 404, "RUN_NOT_FOUND")
    services = api.app.state.services  # type: ignore[attr-defined]
    api.app.state.services = dataclasses.replace(services, callback_dispatcher=FakeDispatcher())  # type: ignore[attr-defined]
    accepted = api.post(path, headers=auth)
    assert accepted.status_code == 202, accepted.text
    delivery = accepted.json()
    assert (delivery["status_code"], delivery["attempt_count"], delivery["attempts"]) == ("pending", 0, [])
    assert woken == [True]
    _error(api.post(path, headers=auth), 409, "CONFLICT")
    history = api.get(f"/v1/runs/{run.id}/callback", headers=auth).json()
    assert [d["status_code"] for d in history] == ["succeeded", "pending"]
    assert history[1]["id"] == delivery["id"]

    queued = store.runs.create(
        NewRun(owner.id, "other/model", {"prompt": "x"}, callback_url=receiver.url())
    ).run
    _error(api.post(f"/v1/runs/{queued.id}/callback-redeliveries", headers=auth), 409, "CONFLICT")
    quiet = finish_run(None)
    _error(api.post(f"/v1/runs/{quiet.id}/callback-redeliveries", headers=auth), 409, "CONFLICT")
    _error(api.post("/v1/runs/nope/callback-redeliveries", headers=auth), 404, "RUN_NOT_FOUND")
