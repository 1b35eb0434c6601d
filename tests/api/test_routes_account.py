"""`/v1/auth/me` and `/v1/billing/balance`."""

from __future__ import annotations

from fastapi.testclient import TestClient

from pixelrun.runs import RunStatus
from pixelrun.store import NewRun, Store

from .conftest import MODEL, Caller, MakeCaller


def test_me_names_the_owner_and_the_key(client: TestClient, make_caller: MakeCaller) -> None:
    caller = make_caller("initech", label="ci key")
    response = client.get("/v1/auth/me", headers=caller.headers)
    assert response.status_code == 200
    assert response.json() == {
        "owner_id": caller.owner_id,
        "owner_name": "initech",
        "key_id": caller.key_id,
        "key_label": "ci key",
    }


def test_balance_without_a_budget_is_null(client: TestClient, caller: Caller) -> None:
    response = client.get("/v1/billing/balance", headers=caller.headers)
    assert response.status_code == 200
    assert response.json() == {"balance_cents": None, "currency": "USD", "spent_cents": 0}


def test_balance_is_budget_minus_spent(client: TestClient, make_caller: MakeCaller, store: Store) -> None:
    caller = make_caller("budgeted", budget_cents=500)
    run = store.runs.create(NewRun(caller.owner_id, MODEL, {"prompt": "x"})).run
    claimed = store.queue.claim("w1", [MODEL], lease_seconds=30)
    assert claimed is not None and claimed.id == run.id
    assert store.queue.finish(
        run.id,
        claimed.attempt,
        "w1",
        RunStatus.SUCCEEDED,
        output={},
        cost="0.03",
        cost_breakdown=[],
        cost_cents=3,
    )
    response = client.get("/v1/billing/balance", headers=caller.headers)
    assert response.json() == {"balance_cents": 497, "currency": "USD", "spent_cents": 3}
