"""The polling read on the event loop: the same answer as the threaded read, and a loop
that never stalls on a locked SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from pixelrun.store import NewRun, Owner, Store
from pixelrun.store.db.loop_reads import LoopReads

from ..conftest import MODEL, MakeRun


async def _read(store: Store, run_id: str, owner_id: str | None) -> object:
    reads = LoopReads(store.engine)
    try:
        return await store.runs.get_with_position_on_loop(reads, run_id, owner_id)
    finally:
        await reads.close()


def test_the_loop_read_answers_like_the_threaded_read(store: Store, owner: Owner, make_run: MakeRun) -> None:
    runs = [make_run() for _ in range(3)]
    other = store.owners.ensure("other")
    for run in runs:
        assert asyncio.run(_read(store, run.id, owner.id)) == store.runs.get_with_position(run.id, owner.id)
    assert asyncio.run(_read(store, runs[2].id, owner.id))[1] == 3  # type: ignore[index]
    assert asyncio.run(_read(store, runs[0].id, other.id)) is None  # another owner's run
    assert asyncio.run(_read(store, "01900000-0000-7000-8000-000000000000", None)) is None


def test_a_locked_sqlite_file_sends_the_read_to_a_thread_and_the_loop_goes_on(
    sqlite_store: Store, tmp_path: Path
) -> None:
    owner = sqlite_store.owners.ensure("acme")
    run = sqlite_store.runs.create(
        NewRun(owner.id, MODEL, {"prompt": "p", "image_urls": ["https://e/a.png"]})
    ).run
    # Exclusive locking mode: once it writes, no other connection can read the file (in WAL
    # mode, ordinary writers never block readers; this stands for recovery and the like).
    sqlite_store.engine.dispose()  # the holder must be the file's only connection
    holder = sqlite3.connect(str(tmp_path / "pixelrun.db"), check_same_thread=False)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE runs SET client_ref = 'held' WHERE id = ?", (run.id,))
    released = threading.Event()

    def release_later() -> None:
        time.sleep(0.5)
        holder.rollback()
        holder.close()
        released.set()

    async def main() -> tuple[object, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while not released.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        threading.Thread(target=release_later).start()
        found = await _read(sqlite_store, run.id, owner.id)
        await ticker
        return found, ticks

    started = time.monotonic()
    found, ticks = asyncio.run(main())
    assert found is not None and found[0].id == run.id  # type: ignore[index]
    assert time.monotonic() - started >= 0.5  # it waited for the lock (in a thread) ...
    assert ticks >= 10  # ... while the loop kept running


@pytest.mark.postgres
def test_postgres_loop_reads_use_an_async_connection(pg_store: Store) -> None:
    owner = pg_store.owners.ensure("acme")
    run = pg_store.runs.create(
        NewRun(owner.id, MODEL, {"prompt": "p", "image_urls": ["https://e/a.png"]})
    ).run

    async def main() -> tuple[object, str]:
        reads = LoopReads(pg_store.engine)
        try:
            found = await pg_store.runs.get_with_position_on_loop(reads, run.id, owner.id)
            assert reads._async_engine is not None
            async with reads._async_engine.connect() as conn:
                driver = type((await conn.get_raw_connection()).driver_connection).__name__
            return found, driver
        finally:
            await reads.close()

    found, driver = asyncio.run(main())
    assert found == (pg_store.runs.get(run.id), 1)
    assert driver == "AsyncConnection"
