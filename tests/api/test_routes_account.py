"""`/v1/auth/me` and `/v1/billing/balance`."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from fastapi.testclient import TestClient

from pixelrun.runs import RunStatus, price_outputs
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
    assert response.json() == {
        "balance_usd": None,
        "spent_usd": "0.000000",
        "currency": "USD",
        "balance_cents": None,
        "spent_cents": 0,
    }


def test_balance_is_budget_minus_spent(client: TestClient, make_caller: MakeCaller, store: Store) -> None:
    caller = make_caller("budgeted", budget_micros=5_000_000)
    run = store.runs.create(NewRun(caller.owner_id, MODEL, {"prompt": "x"})).run
    claimed = store.queue.claim("w1", [MODEL], lease_seconds=30)
    assert claimed is not None and claimed.id == run.id
    assert store.queue.finish(
        run.id,
        claimed.attempt,
        "w1",
        RunStatus.SUCCEEDED,
        output={},
        cost="0.031457",
        cost_breakdown=[],
        cost_micros=31_457,
    )
    response = client.get("/v1/billing/balance", headers=caller.headers)
    assert response.json() == {
        "balance_usd": "4.968543",
        "spent_usd": "0.031457",
        "currency": "USD",
        "balance_cents": 496,
        "spent_cents": 3,
    }


def test_many_runs_are_debited_exactly_their_costs(
    client: TestClient, make_caller: MakeCaller, store: Store
) -> None:
    # 29 runs of varied sizes: with a debit rounded up to whole cents per run, the owner
    # paid about 17 % more than the runs' costs (docs/api.md#billing).
    caller = make_caller("ledger", budget_micros=10_000_000)
    sizes = [(512 + 37 * i, 384 + 53 * (i % 7)) for i in range(29)]
    run_ids = []
    for width, height in sizes:
        created = client.post(
            f"/v1/models/{MODEL}/runs",
            headers=caller.headers,
            json={"input": {"prompt": "p", "image_urls": ["https://example.com/a.png"]}},
        )
        assert created.status_code == 201, created.text
        claimed = store.queue.claim("w1", [MODEL], lease_seconds=30)
        assert claimed is not None
        pricing = price_outputs([(width, height)])
        assert store.queue.finish(
            claimed.id,
            claimed.attempt,
            "w1",
            RunStatus.SUCCEEDED,
            output={},
            cost=pricing.cost_str,
            cost_breakdown=pricing.breakdown,
            cost_micros=pricing.cost_micros,
        )
        run_ids.append(claimed.id)
    # The sum of the wire costs the owner sees, added up independently of the ledger.
    costs = [
        Decimal(client.get(f"/v1/runs/{run_id}", headers=caller.headers).json()["cost"]) for run_id in run_ids
    ]
    total = sum(costs, Decimal(0))
    # The sizes are such that rounding each run up to a cent would show.
    assert sum(cost.quantize(Decimal("0.01"), rounding=ROUND_CEILING) for cost in costs) > total
    balance = client.get("/v1/billing/balance", headers=caller.headers).json()
    assert balance == {
        "balance_usd": str(Decimal(10) - total),
        "spent_usd": str(total),
        "currency": "USD",
        "balance_cents": int((Decimal(10) - total) * 100),
        "spent_cents": int(total * 100),
    }
    assert len(balance["spent_usd"].split(".")[1]) == 6
    assert store.owners.balance(caller.owner_id) == (10_000_000, int(total * 1_000_000))
