"""The application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

import pixelrun
from pixelrun.api import compat
from pixelrun.api.background import background_tasks
from pixelrun.api.errors import install_error_handlers
from pixelrun.api.middleware import RequestContextMiddleware
from pixelrun.api.model_gate import open_model_gate
from pixelrun.api.openapi import install_openapi
from pixelrun.api.routes import account, assets, callbacks, files, health, metrics, models, runs, stream
from pixelrun.api.routes.playground import install_playground
from pixelrun.api.streaming import StreamEvents, StreamHub
from pixelrun.config import Settings
from pixelrun.storage import FileStorage, storage_from_settings
from pixelrun.store import Store
from pixelrun.store.db.loop_reads import LoopReads

API_PREFIX = "/v1"


def create_app(settings: Settings, store: Store | None = None, storage: FileStorage | None = None) -> FastAPI:
    """The API app. A `store` or `storage` passed in belongs to the caller: it is used as
    is (not migrated, not closed); otherwise the lifespan builds them from `settings`."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned_store = store is None
        if owned_store:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            app_store = Store(settings.resolved_database_url)
            await anyio.to_thread.run_sync(app_store.migrate)
        else:
            app_store = store
        app.state.loop_reads = LoopReads(app_store.engine)
        try:
            app.state.store = app_store
            # Run reads take turns on a few threads: 40 threads at once (anyio's default)
            # spent more CPU fighting over the GIL than reading (docs/operations.md).
            app.state.read_limiter = anyio.CapacityLimiter(settings.read_threads)
            # The grace period for creates without a live worker starts now.
            app.state.model_gate = open_model_gate(app_store, settings)
            if storage is not None:
                app.state.storage = storage
            else:
                app.state.storage = await anyio.to_thread.run_sync(
                    storage_from_settings,
                    settings,
                    app_store.shared_settings,
                    app_store.shared_settings.deployment_has_runs,
                )
            hub = StreamHub(
                StreamEvents(app_store, settings, app.state.storage), settings.stream_poll_seconds
            )
            await hub.start()
            app.state.stream_hub = hub
            try:
                async with background_tasks(settings, app_store, app.state.storage) as dispatcher:
                    app.state.callback_dispatcher = dispatcher
                    yield
            finally:
                await hub.stop()
        finally:
            await app.state.loop_reads.close()
            if owned_store:
                app_store.close()

    app = FastAPI(
        title="Pixelrun",
        version=pixelrun.__version__,
        description="Self-hosted run API for image-editing diffusion models.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.error_shapes = compat.ERROR_SHAPES
    install_error_handlers(app)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        # Local-storage uploads (SPEC §8) may be larger than a JSON body; the route checks them.
        body_limits={f"{API_PREFIX}/uploads/": settings.max_upload_bytes},
        error_shapes=compat.ERROR_SHAPES,
    )
    # The compatibility routers first: /v1/models/{owner}/{name}/predictions must not be
    # taken for a model id by GET /v1/models/{model_id}.
    for module in (
        compat.openai,
        compat.replicate,
        runs,
        stream,
        models,
        files,
        assets,
        account,
        health,
        callbacks,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    # Prometheus expects /metrics at the root, outside the versioned API.
    app.include_router(metrics.router)
    install_playground(app)
    install_openapi(app)
    return app
