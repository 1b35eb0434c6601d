"""Runs: listing (pages, filters), the status vocabulary and log lines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from pixelrun.runs import STATUS_DESCRIPTIONS, RunStatus
from pixelrun.store import NewRun, Store

from .conftest import MODEL, Caller, CreateRun, assert_envelope

# ---------------------------------------------------------------- list


def test_list_pages_newest_first_over_three_pages(
    client: TestClient, caller: Caller, create_run: CreateRun
) -> None:
    ids = [create_run().json()["id"] for _ in range(7)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["pq"] = cursor
        page = client.get("/v1/runs", params=params, headers=caller.headers)
        assert page.status_code == 200
        body = page.json()
        pages += 1
        seen += [run["id"] for run in body["items"]]
        cursor = body["next_pq"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(ids))


def test_list_default_limit_is_50_and_limits_are_checked(
    client: TestClient, caller: Caller, create_run: CreateRun
) -> None:
    create_run()
    assert len(client.get("/v1/runs", headers=caller.headers).json()["items"]) == 1
    for bad in ("0", "501", "-1", "many"):
        response = client.get("/v1/runs", params={"limit": bad}, headers=caller.headers)
        errors = assert_envelope(response, 422, "VALIDATION_ERROR")["errors"]
        assert errors[0]["loc"] == ["query", "limit"]
    assert client.get("/v1/runs", params={"limit": 500}, headers=caller.headers).status_code == 200


def test_list_bad_cursor_is_422(client: TestClient, caller: Caller) -> None:
    for cursor in ("garbage!", "eyJhIjoxfQ"):
        response = client.get("/v1/runs", params={"pq": cursor}, headers=caller.headers)
        errors = assert_envelope(response, 422, "VALIDATION_ERROR")["errors"]
        assert errors[0]["loc"] == ["query", "pq"]


def test_list_unknown_query_parameters_are_422_naming_each(
    client: TestClient, caller: Caller, create_run: CreateRun
) -> None:
    create_run()
    # A typo of a filter must not answer the unfiltered list.
    response = client.get(
        "/v1/runs", params={"staus_code": "failed", "limit": 5, "page": 2}, headers=caller.headers
    )
    body = assert_envelope(response, 422, "VALIDATION_ERROR")
    assert [(e["loc"], e["type"]) for e in body["errors"]] == [
        (["query", "staus_code"], "extra_forbidden"),
        (["query", "page"], "extra_forbidden"),
    ]
    assert "staus_code" in body["message"]
    # Every declared parameter is still accepted, and the key is checked first.
    known = {"limit": 5, "status_code": "queued", "model_id": MODEL, "created_after": "2020-01-01T00:00:00Z"}
    assert client.get("/v1/runs", params=known, headers=caller.headers).status_code == 200
    assert_envelope(client.get("/v1/runs", params={"bogus": 1}), 401, "UNAUTHORIZED")


def test_list_filters_by_status(client: TestClient, caller: Caller, create_run: CreateRun) -> None:
    queued = create_run().json()["id"]
    canceled = create_run().json()["id"]
    client.post(f"/v1/runs/{canceled}/cancellation", headers=caller.headers)
    for status, expected in (("queued", [queued]), ("canceled", [canceled]), ("succeeded", [])):
        items = client.get("/v1/runs", params={"status_code": status}, headers=caller.headers).json()["items"]
        assert [run["id"] for run in items] == expected
    response = client.get("/v1/runs", params={"status_code": "done"}, headers=caller.headers)
    errors = assert_envelope(response, 422, "VALIDATION_ERROR")["errors"]
    assert errors[0]["loc"] == ["query", "status_code"]


def test_list_filters_by_model_id(
    client: TestClient, caller: Caller, create_run: CreateRun, store: Store
) -> None:
    ours = create_run().json()["id"]
    # A run of another model can only come from the store (the API knows one model).
    other = store.runs.create(NewRun(caller.owner_id, "acme/other-model", {"prompt": "x"})).run.id
    items = client.get("/v1/runs", params={"model_id": MODEL}, headers=caller.headers).json()["items"]
    assert [run["id"] for run in items] == [ours]
    items = client.get("/v1/runs", params={"model_id": "acme/other-model"}, headers=caller.headers).json()[
        "items"
    ]
    assert [run["id"] for run in items] == [other]
    assert client.get("/v1/runs", headers=caller.headers).json()["items"][0]["id"] == other


def test_list_filters_by_creation_time(
    client: TestClient, caller: Caller, create_run: CreateRun, store: Store
) -> None:
    first = create_run().json()
    second = create_run().json()
    first_at = datetime.fromisoformat(first["created_at"])
    second_at = datetime.fromisoformat(second["created_at"])
    assert first_at <= second_at

    def ids(**params: str) -> list[str]:
        response = client.get("/v1/runs", params=params, headers=caller.headers)
        assert response.status_code == 200, response.text
        return [run["id"] for run in response.json()["items"]]

    assert ids(created_after=first["created_at"]) == ([second["id"]] if second_at > first_at else [])
    assert ids(created_before=second["created_at"]) == ([first["id"]] if second_at > first_at else [])
    hour_ago = (first_at - timedelta(hours=1)).isoformat()
    assert ids(created_after=hour_ago) == [second["id"], first["id"]]
    assert ids(created_before=hour_ago) == []
    # Naive times are UTC.
    naive = (first_at - timedelta(hours=1)).astimezone(UTC).replace(tzinfo=None).isoformat()
    assert ids(created_after=naive) == [second["id"], first["id"]]
    response = client.get("/v1/runs", params={"created_after": "yesterday"}, headers=caller.headers)
    assert assert_envelope(response, 422, "VALIDATION_ERROR")["errors"][0]["loc"] == [
        "query",
        "created_after",
    ]


def test_list_needs_a_key(client: TestClient) -> None:
    assert_envelope(client.get("/v1/runs"), 401, "UNAUTHORIZED")


# ---------------------------------------------------------------- statuses and logs


def test_statuses_lists_every_status_with_its_meaning(client: TestClient, caller: Caller) -> None:
    response = client.get("/v1/runs/statuses", headers=caller.headers)
    assert response.status_code == 200
    assert response.json() == [
        {"status_code": s.value, "description": STATUS_DESCRIPTIONS[s], "is_terminal": s.is_terminal}
        for s in RunStatus
    ]
    assert_envelope(client.get("/v1/runs/statuses"), 401, "UNAUTHORIZED")


def test_logs_are_listed_in_order(
    client: TestClient, caller: Caller, create_run: CreateRun, store: Store
) -> None:
    run_id = create_run().json()["id"]
    assert client.get(f"/v1/runs/{run_id}/logs", headers=caller.headers).json() == []
    store.history.add_log(run_id, "info", "claimed", {"worker": "w1"})
    store.history.add_log(run_id, "warning", "slow download")
    logs = client.get(f"/v1/runs/{run_id}/logs", headers=caller.headers).json()
    assert [(line["level_code"], line["message"], line["meta"]) for line in logs] == [
        ("info", "claimed", {"worker": "w1"}),
        ("warning", "slow download", None),
    ]
    assert set(logs[0]) == {"id", "run_id", "level_code", "message", "timestamp", "meta"}
    assert logs[0]["run_id"] == run_id and logs[0]["timestamp"].endswith("+00:00")
    assert logs[0]["id"] < logs[1]["id"]


def test_logs_of_unknown_run_is_404(client: TestClient, caller: Caller) -> None:
    assert_envelope(client.get("/v1/runs/nope/logs", headers=caller.headers), 404, "RUN_NOT_FOUND")
