from __future__ import annotations

import pytest
from sqlalchemy import bindparam, insert, select, text
from sqlalchemy import exc as sa_exc

from pixelrun.store import Owner, Store
from pixelrun.store.db.database import pg_notify, read_tx, write_tx
from pixelrun.store.db.notify import QueueWaiter
from pixelrun.store.db.raw_statement import RawStatement
from pixelrun.store.tables import owners, runs

from ..conftest import MakeRun


def test_rows_match_sqlalchemys(store: Store, owner: Owner, make_run: MakeRun) -> None:
    run = make_run(metadata={"k": ["ü", 1.5, None]})
    query = select(runs).where(runs.c.id == bindparam("run_id"))
    with read_tx(store.engine) as conn:
        expected = dict(conn.execute(query, {"run_id": run.id}).mappings().one())
        raw = RawStatement(query).first_mapping(conn, {"run_id": run.id})
        assert RawStatement(query).first_mapping(conn, {"run_id": "nope"}) is None
    assert raw == expected


def test_driver_errors_are_wrapped_like_sqlalchemys(store: Store) -> None:
    broken = RawStatement(text("SELECT * FROM no_such_table WHERE id = :id"))
    with pytest.raises(sa_exc.DBAPIError), read_tx(store.engine) as conn:
        broken.first(conn, {"id": 1})


def test_python_side_defaults_are_refused(store: Store) -> None:
    # `spent_micros` has a Python-side default that only Connection.execute would apply.
    statement = RawStatement(insert(owners), column_keys=["id", "name", "created_at"])
    with pytest.raises(ValueError, match="defaults"), write_tx(store.engine) as conn:
        statement.execute(conn, {"id": "x", "name": "x", "created_at": None})


def test_gathered_notifications_are_sent_at_commit(pg_store: Store) -> None:
    with QueueWaiter(pg_store.engine, poll_interval=0.05) as waiter:
        with write_tx(pg_store.engine) as conn:
            pg_notify(conn, "pixelrun_runs", "m")
            pg_notify(conn, "pixelrun_runs", "m")
        notes = list(waiter._listen_conn.notifies(timeout=0.5, stop_after=2))
    assert [n.payload for n in notes] == ["m"]
