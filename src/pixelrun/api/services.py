"""`Services`: everything a route needs, built once in the app's lifespan.

Every route reaches it through one dependency (`ServicesDep`, api/deps.py); nothing is
created on a first request and nothing lives in a module-level registry, so two apps in
one process (the tests run several) never share state by accident.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
import anyio.to_thread
from prometheus_client import CollectorRegistry

from pixelrun.api.auth_cache import AuthCache
from pixelrun.api.background import background_tasks
from pixelrun.api.metrics import StoreCollector
from pixelrun.api.model_gate import ModelGate
from pixelrun.api.presenter import RunPresenter
from pixelrun.api.streaming import StreamEvents, StreamHub
from pixelrun.callbacks import CallbackDispatcher
from pixelrun.config import Settings
from pixelrun.storage import FileStorage, storage_from_settings
from pixelrun.store import LoopReads, Store


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: Store
    storage: FileStorage
    #: Runs as wire objects (signed file URLs, queue position).
    presenter: RunPresenter
    #: The polling read on the event loop (store/db/loop_reads.py).
    loop_reads: LoopReads
    #: Refuses creates no live worker can take (after the start-up grace period).
    model_gate: ModelGate
    auth_cache: AuthCache
    #: Watches the store for every open event stream and `Prefer: wait`.
    stream_hub: StreamHub
    #: `/metrics`: a collector that reads the store at each scrape (api/metrics.py).
    metrics_registry: CollectorRegistry
    #: None when `PIXELRUN_BACKGROUND_TASKS` is off.
    callback_dispatcher: CallbackDispatcher | None


@contextlib.asynccontextmanager
async def running_services(
    settings: Settings, store: Store | None = None, storage: FileStorage | None = None
) -> AsyncIterator[Services]:
    """Open the store and storage, start the stream hub and the background tasks; stop and
    close them all on exit. A `store` or `storage` passed in belongs to the caller: it is
    used as is (not migrated, not closed)."""
    async with contextlib.AsyncExitStack() as stack:
        if store is None:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            store = Store(settings.resolved_database_url, listen_url=settings.listen_database_url)
            stack.callback(store.close)
            await anyio.to_thread.run_sync(store.migrate)
        loop_reads = LoopReads(store.engine)
        stack.push_async_callback(loop_reads.close)
        if storage is None:
            storage = await anyio.to_thread.run_sync(
                storage_from_settings,
                settings,
                store.shared_settings,
                store.shared_settings.deployment_has_runs,
            )
        # Run reads take turns on a few threads: 40 threads at once (anyio's default)
        # spent more CPU fighting over the GIL than reading (docs/operations.md).
        presenter = RunPresenter(store, settings, storage, anyio.CapacityLimiter(settings.read_threads))
        hub = StreamHub(StreamEvents(store, presenter), settings.stream_poll_seconds)
        await hub.start()
        stack.push_async_callback(hub.stop)
        dispatcher = await stack.enter_async_context(background_tasks(settings, store, storage))
        registry = CollectorRegistry(auto_describe=False)
        registry.register(StoreCollector(store))
        yield Services(
            settings=settings,
            store=store,
            storage=storage,
            presenter=presenter,
            loop_reads=loop_reads,
            # The grace period for creates without a live worker starts now.
            model_gate=ModelGate(store, settings.model_grace_seconds),
            auth_cache=AuthCache(settings.auth_cache_seconds),
            stream_hub=hub,
            metrics_registry=registry,
            callback_dispatcher=dispatcher,
        )
