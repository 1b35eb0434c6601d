"""The per-process stream hub: one store read per change, whatever the number of streams."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import anyio
import pytest

from pixelrun.api.presenter import RunPresenter
from pixelrun.api.streaming import StreamEvents, StreamHub
from pixelrun.config import Settings
from pixelrun.storage import storage_from_settings
from pixelrun.store import NewRun, Store

SUBSCRIBERS = 50


def test_one_read_fans_out_to_every_subscriber(database_url: str, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, database_url=database_url, stream_poll_seconds=1.0, signing_secret="s" * 32
    )
    store = Store(database_url)
    store.migrate()
    owner = store.owners.ensure("hub-test")
    run = store.runs.create(
        NewRun(owner.id, "alibaba/qwen-image-edit-2511", {"prompt": "x", "image_urls": []})
    ).run
    after = store.history.stream_last_id(run.id)

    async def scenario() -> tuple[int, list[list[tuple[int, str]]]]:
        presenter = RunPresenter(store, settings, storage_from_settings(settings), anyio.CapacityLimiter(2))
        hub = StreamHub(StreamEvents(store, presenter), settings.stream_poll_seconds)
        await hub.start()
        try:
            async with contextlib.AsyncExitStack() as stack:
                subs = [
                    await stack.enter_async_context(hub.subscribe(run.id, after)) for _ in range(SUBSCRIBERS)
                ]
                await asyncio.sleep(0.3)  # subscribed and idle: nothing new to read
                reads_before = hub.reads
                await asyncio.to_thread(store.history.add_progress, run.id, [(1, 3), (2, 3), (3, 3)])
                received: list[list[tuple[int, str]]] = []
                for sub in subs:
                    batch = await asyncio.wait_for(sub.queue.get(), 10)
                    received.append([(event.id, event.data) for event in batch])
                await asyncio.sleep(0.3)
                return hub.reads - reads_before, received
        finally:
            await hub.stop()

    try:
        reads, received = asyncio.run(scenario())
    finally:
        store.close()
    assert len(received) == SUBSCRIBERS and all(batch == received[0] for batch in received)
    assert [data for _, data in received[0]] == [
        '{"step":1,"steps":3}',
        '{"step":2,"steps":3}',
        '{"step":3,"steps":3}',
    ]
    # SQLite polls (one read per second for every watched run); PostgreSQL reads on NOTIFY;
    # a read per stream would be SUBSCRIBERS reads.
    assert reads <= 10, reads


def _nested(depth: int) -> dict[str, object]:
    value: dict[str, object] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def test_a_run_that_cannot_be_presented_fails_alone(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A run stored before the depth limit (300-deep metadata: it cannot be serialised) is
    reported once and ends its own streams; another owner's run in the same batch goes on."""
    settings = Settings(
        data_dir=tmp_path, database_url=database_url, stream_poll_seconds=0.05, signing_secret="s" * 32
    )
    store = Store(database_url)
    store.migrate()
    model = "alibaba/qwen-image-edit-2511"
    attacker, victim = store.owners.ensure("attacker"), store.owners.ensure("victim")
    bad = store.runs.create(
        NewRun(attacker.id, model, {"prompt": "x", "image_urls": []}, metadata=_nested(300))
    ).run
    good = store.runs.create(NewRun(victim.id, model, {"prompt": "y", "image_urls": []})).run

    async def scenario() -> tuple[bool, list[str], bool]:
        presenter = RunPresenter(store, settings, storage_from_settings(settings), anyio.CapacityLimiter(2))
        hub = StreamHub(StreamEvents(store, presenter), settings.stream_poll_seconds)
        await hub.start()
        try:
            async with hub.subscribe(bad.id, 0) as bad_sub, hub.subscribe(good.id, 0) as good_sub:
                # Both runs change; each status row makes the hub present its run.
                await asyncio.to_thread(store.runs.cancel, bad.id, attacker.id)
                await asyncio.to_thread(store.runs.cancel, good.id, victim.id)
                names: list[str] = []
                while "done" not in names:
                    batch = await asyncio.wait_for(good_sub.queue.get(), 10)
                    names += [event.name for event in batch]
                await asyncio.wait_for(bad_sub.queue.get(), 10)
                await asyncio.sleep(0.3)  # more polls: the bad run must not be read (or logged) again
                return bad_sub.failed, names, good_sub.failed
        finally:
            await hub.stop()

    try:
        with caplog.at_level("ERROR", logger="pixelrun.api.streaming.hub"):
            bad_failed, names, good_failed = asyncio.run(scenario())
    finally:
        store.close()
    assert bad_failed and not good_failed
    assert names[-1] == "done"
    reports = [record for record in caplog.records if bad.id in record.getMessage()]
    assert len(reports) == 1, [record.getMessage() for record in caplog.records]
