from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from pixelrun.store import NewRun, Store

from ..conftest import MODEL

# These tests pick their back end themselves; the PostgreSQL ones carry the marker.
pg = pytest.mark.postgres


def _notify_later(action: Callable[[], object], delay: float) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        action()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_sqlite_waiter_polls(sqlite_store: Store) -> None:
    store = sqlite_store
    with store.queue.waiter(poll_interval=0.05) as waiter:
        start = time.monotonic()
        waiter.wait(timeout=5)
        assert time.monotonic() - start < 1
        start = time.monotonic()
        waiter.wait(timeout=0.01)
        assert time.monotonic() - start < 0.5
    store.queue.notify(MODEL)  # a no-op on SQLite


@pg
def test_postgres_notify_wakes_the_waiter(pg_store: Store) -> None:
    store = pg_store
    with store.queue.waiter() as waiter:
        thread = _notify_later(lambda: store.queue.notify(MODEL), 0.2)
        start = time.monotonic()
        waiter.wait(timeout=10)
        elapsed = time.monotonic() - start
        thread.join()
    assert 0.1 < elapsed < 2


@pg
def test_postgres_create_run_notifies_and_waiter_filters_models(pg_store: Store) -> None:
    store = pg_store
    owner = store.owners.ensure("acme")
    with store.queue.waiter(model_ids=[MODEL]) as waiter:
        # A run of another model does not wake it: the full timeout passes.
        store.runs.create(NewRun(owner.id, "other/model", {"prompt": "p"}))
        start = time.monotonic()
        waiter.wait(timeout=0.5)
        assert time.monotonic() - start >= 0.45
        thread = _notify_later(lambda: store.runs.create(NewRun(owner.id, MODEL, {"prompt": "p"})).run, 0.2)
        start = time.monotonic()
        waiter.wait(timeout=10)
        thread.join()
        assert time.monotonic() - start < 2


@pg
def test_postgres_notification_before_wait_is_not_lost(pg_store: Store) -> None:
    store = pg_store
    owner = store.owners.ensure("acme")
    with store.queue.waiter() as waiter:
        store.runs.create(NewRun(owner.id, MODEL, {"prompt": "p"}))
        start = time.monotonic()
        waiter.wait(timeout=10)
        assert time.monotonic() - start < 1


@pg
def test_postgres_waiter_times_out(pg_store: Store) -> None:
    store = pg_store
    with store.queue.waiter() as waiter:
        start = time.monotonic()
        waiter.wait(timeout=0.3)
        assert 0.25 < time.monotonic() - start < 2


def test_sqlite_create_in_another_process_wakes_the_waiter_at_once(sqlite_store: Store) -> None:
    import subprocess
    import sys

    store = sqlite_store
    owner = store.owners.ensure("acme")
    script = (
        "import sys; from pixelrun.store import NewRun, Store; "
        "s = Store(sys.argv[1]); s.runs.create(NewRun(sys.argv[2], sys.argv[3], {'prompt': 'x'}))"
    )
    # A poll interval far longer than the wait measured: only the wake-up can end it early.
    with store.queue.waiter(model_ids=[MODEL], poll_interval=30) as waiter:
        child = subprocess.Popen([sys.executable, "-c", script, str(store.engine.url), owner.id, MODEL])
        start = time.monotonic()
        waiter.wait(timeout=30)
        woke_after = time.monotonic() - start
        assert child.wait(30) == 0
    assert woke_after < 10, woke_after
    assert store.queue.claim("wrk", [MODEL], 30) is not None


def test_sqlite_wake_ups_skip_other_models_and_dead_sockets(sqlite_store: Store) -> None:
    from pixelrun.store.db.local_wake import LocalWakeReceiver, wake_dir, wake_local

    database = str(sqlite_store.engine.url.database)
    dead = LocalWakeReceiver(database)
    dead._sock.close()  # a worker killed without cleaning up leaves its socket file
    with sqlite_store.queue.waiter(model_ids=[MODEL], poll_interval=0.3) as waiter:
        wake_local(database, {"other/model"})
        start = time.monotonic()
        waiter.wait(timeout=5)
        assert time.monotonic() - start >= 0.25  # not woken by another model's run
        sqlite_store.queue.notify(MODEL)
        start = time.monotonic()
        waiter.wait(timeout=5)
        assert time.monotonic() - start < 0.2
    assert list(wake_dir(database).iterdir()) == []  # the dead socket was removed, ours closed
