"""Idempotency-Key, Cancel-After and the rate limit on the create route (docs/operations.md#protecting-the-service)."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from pixelrun.runs import utc_now
from pixelrun.store import Store

from .conftest import MODEL, Caller, CreateRun, assert_envelope, valid_input

PATH = f"/v1/models/{MODEL}/runs"


def test_a_replay_returns_the_original_run_status_and_header(
    client: TestClient, caller: Caller, store: Store
) -> None:
    headers = {**caller.headers, "Idempotency-Key": "order-42"}
    first = client.post(PATH, json={"input": valid_input()}, headers=headers)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    again = client.post(PATH, json={"input": valid_input()}, headers=headers)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert len(store.runs.page(caller.owner_id)[0]) == 1


def test_the_same_key_with_another_body_is_a_conflict(client: TestClient, caller: Caller) -> None:
    headers = {**caller.headers, "Idempotency-Key": "order-42"}
    assert client.post(PATH, json={"input": valid_input()}, headers=headers).status_code == 201
    other = client.post(PATH, json={"input": valid_input(prompt="another prompt")}, headers=headers)
    body = assert_envelope(other, 409, "CONFLICT")
    assert "Idempotency-Key" in body["message"]


def test_another_owners_same_key_is_independent(
    client: TestClient, caller: Caller, other_caller: Caller
) -> None:
    mine = client.post(
        PATH, json={"input": valid_input()}, headers={**caller.headers, "Idempotency-Key": "k"}
    )
    theirs = client.post(
        PATH, json={"input": valid_input()}, headers={**other_caller.headers, "Idempotency-Key": "k"}
    )
    assert mine.status_code == theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]


def test_an_overlong_idempotency_key_is_refused(client: TestClient, caller: Caller) -> None:
    response = client.post(
        PATH, json={"input": valid_input()}, headers={**caller.headers, "Idempotency-Key": "k" * 256}
    )
    body = assert_envelope(response, 422, "VALIDATION_ERROR")
    assert body["errors"][0]["loc"] == ["header", "Idempotency-Key"]


def test_cancel_after_sets_the_deadline(client: TestClient, caller: Caller, store: Store) -> None:
    before = utc_now()
    response = client.post(
        PATH, json={"input": valid_input()}, headers={**caller.headers, "Cancel-After": "1h30m"}
    )
    assert response.status_code == 201
    run = store.runs.get(response.json()["id"])
    assert run is not None and run.deadline_at is not None
    assert timedelta(minutes=89) < run.deadline_at - before < timedelta(minutes=91)


def test_a_malformed_cancel_after_is_a_validation_error(
    client: TestClient, caller: Caller, store: Store
) -> None:
    for value in ("soon", "90", "0s", "-5m", "8d", "30x"):
        response = client.post(
            PATH, json={"input": valid_input()}, headers={**caller.headers, "Cancel-After": value}
        )
        body = assert_envelope(response, 422, "VALIDATION_ERROR")
        assert body["errors"][0]["loc"] == ["header", "Cancel-After"], value
        assert "90s" in body["errors"][0]["msg"]
    assert store.runs.page(caller.owner_id)[0] == []


def test_the_rate_limit_answers_429_with_retry_after(
    client: TestClient, caller: Caller, other_caller: Caller, create_run: CreateRun, backend: object
) -> None:
    settings = client.app.state.services.settings  # type: ignore[attr-defined]
    settings.rate_limit_per_minute = 2
    try:
        assert [create_run().status_code for _ in range(2)] == [201, 201]
        refused = create_run()
        assert_envelope(refused, 429, "RATE_LIMITED")
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert create_run(who=other_caller).status_code == 201  # per key
    finally:
        settings.rate_limit_per_minute = None
