from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select

from pixelrun.store import Store
from pixelrun.store.db.types import UTCDateTime, json_type


def test_datetimes_and_json_round_trip(store: Store) -> None:
    md = MetaData()
    table = Table(
        "roundtrip",
        md,
        Column("id", Integer, primary_key=True),
        Column("at", UTCDateTime()),
        Column("doc", json_type(), nullable=True),
    )
    md.create_all(store.engine)
    try:
        cest = timezone(timedelta(hours=2))
        at = datetime(2025, 6, 1, 14, 0, 0, 123456, tzinfo=cest)
        with store.engine.begin() as conn:
            conn.execute(insert(table).values(id=1, at=at, doc={"a": [1, "b"]}))
            conn.execute(insert(table).values(id=2, at=None, doc=None))
        with store.engine.connect() as conn:
            rows = conn.execute(select(table).order_by(table.c.id)).all()
        assert rows[0].at == at
        assert rows[0].at.tzinfo is not None and rows[0].at.utcoffset() == timedelta(0)
        assert rows[0].at.hour == 12
        assert rows[0].doc == {"a": [1, "b"]}
        # None is SQL NULL, not JSON null.
        assert rows[1].at is None and rows[1].doc is None
        with store.engine.connect() as conn:
            assert conn.execute(select(table.c.id).where(table.c.doc.is_(None))).scalars().all() == [2]
    finally:
        md.drop_all(store.engine)


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2025, 1, 1), store.engine.dialect)
    assert UTCDateTime().process_bind_param(datetime(2025, 1, 1, tzinfo=UTC), store.engine.dialect)
