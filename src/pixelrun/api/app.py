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
from pixelrun.api.openapi import install_openapi
from pixelrun.api.routes import account, callbacks, files, health, models, runs
from pixelrun.config import Settings
from pixelrun.storage import FileStorage, storage_from_settings
from pixelrun.store import Store

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
        try:
            app.state.store = app_store
            app.state.storage = storage if storage is not None else storage_from_settings(settings)
            async with background_tasks(settings, app_store, app.state.storage) as dispatcher:
                app.state.callback_dispatcher = dispatcher
                yield
        finally:
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
        RequestContextMiddleware, max_body_bytes=settings.max_body_bytes, error_shapes=compat.ERROR_SHAPES
    )
    # The compatibility routers first: /v1/models/{owner}/{name}/predictions must not be
    # taken for a model id by GET /v1/models/{model_id:path}.
    for module in (compat.openai, compat.replicate, runs, models, files, account, health, callbacks):
        app.include_router(module.router, prefix=API_PREFIX)
    install_openapi(app)
    return app
