"""The per-process stream hub: one store read per change, whatever the number of streams."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import anyio

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
