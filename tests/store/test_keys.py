from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from pixelrun.store import OwnerNotFound, Store
from pixelrun.store.tables import api_keys


def test_ensure_owner_creates_once(store: Store) -> None:
    first = store.owners.ensure("acme", budget_micros=500)
    again = store.owners.ensure("acme", budget_micros=999)
    assert again == first
    assert first.budget_micros == 500 and first.spent_micros == 0
    assert first.created_at.tzinfo is not None
    assert store.owners.ensure("other").id != first.id


def test_balance_and_budget(store: Store) -> None:
    unlimited = store.owners.ensure("unlimited")
    assert store.owners.balance(unlimited.id) == (None, 0)
    store.owners.set_budget(unlimited.id, 1234)
    assert store.owners.balance(unlimited.id) == (1234, 0)
    with pytest.raises(OwnerNotFound):
        store.owners.balance("own_missing")
    with pytest.raises(OwnerNotFound):
        store.owners.set_budget("own_missing", 1)


def test_key_is_shown_once_and_stored_as_a_hash(store: Store) -> None:
    owner = store.owners.ensure("acme")
    record, plain = store.keys.create(owner.id, "ci")
    assert plain.startswith("px_") and len(plain) == 43
    assert record.key_prefix == plain[:12]
    assert record.label == "ci" and record.revoked_at is None
    with store.engine.connect() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.id == record.id)).mappings().one()
    assert row["key_hash"] == hashlib.sha256(plain.encode()).hexdigest()
    assert plain not in [str(v) for v in row.values()]
    assert store.keys.of_owner(owner.id) == [record]


def test_authenticate_right_wrong_and_revoked(store: Store) -> None:
    owner = store.owners.ensure("acme")
    record, plain = store.keys.create(owner.id, "default")
    auth = store.keys.authenticate(plain)
    assert auth is not None
    assert (auth.owner_id, auth.owner_name, auth.key_id, auth.key_label) == (
        owner.id,
        "acme",
        record.id,
        "default",
    )
    assert store.keys.authenticate(plain + "x") is None
    assert store.keys.authenticate("px_" + "a" * 40) is None
    assert store.keys.authenticate("") is None
    assert store.keys.revoke(record.id) is True
    assert store.keys.revoke(record.id) is False
    assert store.keys.authenticate(plain) is None


def test_count_api_keys(store: Store) -> None:
    owner = store.owners.ensure("acme")
    assert store.keys.count() == 0
    first, _ = store.keys.create(owner.id, "a")
    store.keys.create(owner.id, "b")
    store.keys.revoke(first.id)
    assert store.keys.count() == 1
    assert store.keys.count(include_revoked=True) == 2


def test_key_for_unknown_owner_is_refused(store: Store) -> None:
    with pytest.raises(OwnerNotFound):
        store.keys.create("own_missing", "x")
