"""`store.storage_identities`: one row per storage, refreshed by whoever reports it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from pixelrun.runs import utc_now
from pixelrun.store import Store
from pixelrun.store.tables import storage_identities


def test_other_storage_is_listed_and_a_report_refreshes_its_row(store: Store) -> None:
    repo = store.storage_identities
    repo.report("local:a", "local directory /a/files on host-a", "host-a")
    repo.report("local:b", "local directory /b/files on host-b", "host-b")
    repo.report("local:b", "local directory /b/files on host-b", "host-b2")  # another process, same dir
    (other,) = repo.others("local:a")
    assert (other.identity, other.host) == ("local:b", "host-b2")
    assert [o.identity for o in repo.others("s3://bucket")] == ["local:b", "local:a"]  # most recent first
    assert repo.others("local:a", timedelta(seconds=60))[0].identity == "local:b"


def test_reports_older_than_the_window_do_not_count(store: Store) -> None:
    repo = store.storage_identities
    repo.report("local:a", "a", "host-a")
    repo.report("local:old", "old", "host-old")
    with store.engine.begin() as conn:
        conn.execute(
            update(storage_identities)
            .where(storage_identities.c.identity == "local:old")
            .values(seen_at=utc_now() - timedelta(minutes=5))
        )
    assert repo.others("local:a", timedelta(seconds=60)) == []
    assert [o.identity for o in repo.others("local:a")] == ["local:old"]  # still known, for the file route
