"""Work an API process does besides answering requests: the callback dispatcher, and the
maintenance passes (housekeeping and the retention janitor, pixelrun.maintenance).

All run in every API process; the store makes that safe (deliveries and leases are
claimed with row locks), so any number of API replicas can run side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

from pixelrun import maintenance
from pixelrun.callbacks.dispatcher import CallbackDispatcher
from pixelrun.config import Settings
from pixelrun.net import NetworkPolicy, OutboundClient
from pixelrun.storage import FileStorage
from pixelrun.store import Store


def build_dispatcher(settings: Settings, store: Store, storage: FileStorage) -> CallbackDispatcher:
    policy = NetworkPolicy.from_settings(settings.allow_private_urls, settings.allowed_networks)
    client = OutboundClient(policy, settings.fetch_connect_timeout_seconds, settings.callback_timeout_seconds)
    ttl = settings.file_url_ttl_seconds
    return CallbackDispatcher(
        store,
        client,
        lambda key: storage.url_for(key, ttl),
        worker_id=f"api_{uuid.uuid4().hex[:12]}",
        timeout=settings.callback_timeout_seconds,
        claim_seconds=max(30.0, settings.callback_timeout_seconds * 3),
        public_base_url=settings.public_base_url,
    )


@contextlib.asynccontextmanager
async def background_tasks(
    settings: Settings, store: Store, storage: FileStorage
) -> AsyncIterator[CallbackDispatcher | None]:
    if not settings.background_tasks:
        yield None
        return
    dispatcher = build_dispatcher(settings, store, storage)
    tasks = [
        asyncio.create_task(dispatcher.run(), name="callback-dispatcher"),
        # Runs of dead workers go back to the queue even when every worker is busy; runs of
        # models no worker serves fail after the grace period (docs/weights.md#runs-no-worker-takes).
        asyncio.create_task(
            maintenance.for_api(store, settings.model_grace_seconds).run_forever(), name="reaper"
        ),
    ]
    # Always: with retention_hours 0 it still prunes streams, dead workers and rate windows.
    janitor = maintenance.Janitor(
        store,
        storage,
        settings.retention_hours,
        settings.janitor_interval_seconds,
        stream_retention_hours=settings.stream_retention_hours,
    )
    tasks.append(asyncio.create_task(janitor.run_forever(), name="retention-janitor"))
    try:
        yield dispatcher
    finally:
        dispatcher.stop()
        # Give attempts in flight a moment to finish and be recorded, then cancel.
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(tasks[0]), timeout=settings.callback_timeout_seconds + 1)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
