"""`store.assets.page`: an owner's ready assets, newest first, by keyset cursor (the list of
Replicate's `GET /v1/files`, docs/compatibility.md#replicate-files)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pixelrun.runs import utc_now
from pixelrun.store import AssetRecord, InvalidCursor, Owner, Store


def make_asset(store: Store, owner: Owner, name: str, *, ready: bool = True) -> AssetRecord:
    asset_id = store.assets.new_id()
    record = store.assets.create(
        asset_id,
        owner.id,
        name,
        "image/png",
        10,
        f"assets/{asset_id}/asset.png",
        utc_now() + timedelta(hours=1),
    )
    if not ready:
        return record
    confirmed = store.assets.confirm(asset_id, owner.id, 8, 8)
    assert confirmed is not None
    return confirmed


def test_pages_cover_the_ready_assets_newest_first_once_each(store: Store, owner: Owner) -> None:
    made = [make_asset(store, owner, f"{n}.png") for n in range(5)]
    make_asset(store, owner, "pending.png", ready=False)
    make_asset(store, store.owners.ensure("other"), "theirs.png")

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        records, cursor = store.assets.page(owner.id, limit=2, cursor=cursor)
        pages += 1
        assert len(records) <= 2
        seen += [record.name for record in records]
        if cursor is None:
            break
    expected = [r.name for r in sorted(made, key=lambda r: (r.created_at, r.id), reverse=True)]
    assert seen == expected and pages == 3


def test_a_bad_cursor_is_refused(store: Store, owner: Owner) -> None:
    with pytest.raises(InvalidCursor):
        store.assets.page(owner.id, cursor="not a cursor")
