"""Work an API process does besides answering requests: the callback dispatcher, the reaper
and the retention janitor.

All run in every API process; the store makes that safe (deliveries and leases are
claimed with row locks), so any number of API replicas can run side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

from pixelrun.maintenance.retention import Janitor
from pixelrun.callbacks.dispatcher import CallbackDispatcher
from pixelrun.config import Settings
from pixelrun.net import NetworkPolicy, OutboundClient
from pixelrun.storage import FileStorage
from pixelrun.store import Store, is_unavailable

log = logging.getLogger(__name__)

REAP_INTERVAL_SECONDS = 5.0


async def reap_forever(store: Store, interval: float = REAP_INTERVAL_SECONDS) -> None:
    """Return runs of dead workers to the queue even when every worker is busy."""
    while True:
        try:
            for run_id in await asyncio.to_thread(store.queue.reap_expired):
                log.warning("run %s: its worker's lease expired; returned to the queue or failed", run_id)
            for run_id in await asyncio.to_thread(store.deadlines.expire):
                log.info("run %s: canceled, its Cancel-After deadline passed", run_id)
            await asyncio.to_thread(store.runs.purge_expired_keys)
        except Exception as exc:
            if is_unavailable(exc):
                log.warning("reaper pass skipped: the store is unavailable")
            else:
                log.exception("reaper pass failed")
        await asyncio.sleep(interval)


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
        asyncio.create_task(reap_forever(store), name="reaper"),
    ]
    if settings.retention_hours > 0:
        janitor = Janitor(store, storage, settings.retention_hours, settings.janitor_interval_seconds)
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
