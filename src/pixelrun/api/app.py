"""The application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import pixelrun
from pixelrun.api import compat
from pixelrun.api.body_guard import BodyGuardMiddleware
from pixelrun.api.errors import install_error_handlers
from pixelrun.api.middleware import RequestContextMiddleware
from pixelrun.api.openapi import install_openapi
from pixelrun.api.routes import account, assets, callbacks, files, health, metrics, models, runs, stream
from pixelrun.api.routes.docs_page import install_docs
from pixelrun.api.routes.playground import install_playground
from pixelrun.api.services import running_services
from pixelrun.config import Settings
from pixelrun.storage import FileStorage
from pixelrun.store import Store

API_PREFIX = "/v1"
# Room for a multipart form's headers and text fields around a file of max_upload_bytes.
FORM_OVERHEAD_BYTES = 1024 * 1024


def create_app(settings: Settings, store: Store | None = None, storage: FileStorage | None = None) -> FastAPI:
    """The API app. A `store` or `storage` passed in belongs to the caller: it is used as
    is (not migrated, not closed); otherwise the lifespan builds them from `settings`."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_services(settings, store, storage) as services:
            app.state.services = services
            yield

    app = FastAPI(
        title="Pixelrun",
        version=pixelrun.__version__,
        description="Self-hosted run API for image-editing diffusion models.",
        lifespan=lifespan,
        # FastAPI's own pages load Swagger UI and ReDoc from a CDN: /docs is served from
        # the package instead (api/routes/docs_page.py), and there is no /redoc.
        docs_url=None,
        redoc_url=None,
    )
    app.state.error_shapes = compat.ERROR_SHAPES
    install_error_handlers(app)
    # The last added is the outermost: the request context shapes the body guard's errors.
    app.add_middleware(
        BodyGuardMiddleware,
        max_body_bytes=settings.max_body_bytes,
        read_timeout_seconds=settings.body_read_timeout_seconds,
        body_memory_bytes=settings.body_memory_bytes,
        # Local-storage uploads (docs/uploads.md) and Replicate's file uploads (a form around
        # the file) may be larger than a JSON body; the routes check the files themselves.
        body_limits={
            f"{API_PREFIX}/uploads/": settings.max_upload_bytes,
            f"{API_PREFIX}/files": settings.max_upload_bytes + FORM_OVERHEAD_BYTES,
        },
        # Uploads go to a file as they arrive (api/routes/assets.py): no body memory to budget.
        streamed_prefixes=(f"{API_PREFIX}/uploads/",),
    )
    app.add_middleware(RequestContextMiddleware, error_shapes=compat.ERROR_SHAPES)
    # The compatibility routers first: /v1/models/{owner}/{name}/predictions must not be
    # taken for a model id by GET /v1/models/{model_id}. Without /v1/files of its own, a
    # POST there was redirected (empty 307) to /v1/files/, the signed file route's prefix.
    for module in (
        compat.openai,
        compat.replicate,
        compat.replicate_files,
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
    install_docs(app)
    install_openapi(app, settings)
    return app
