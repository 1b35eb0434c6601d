"""`GET /metrics`: Prometheus text format, for the whole fleet (see `pixelrun.api.metrics`)."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from pixelrun.api.deps import SettingsDep, StoreDep, unauthorized
from pixelrun.api.metrics import StoreCollector
from pixelrun.store import Store

router = APIRouter(tags=["operations"])


def _registry(request: Request, store: Store) -> CollectorRegistry:
    """One registry per app: the collector keeps the folded counters between scrapes."""
    registry: CollectorRegistry | None = getattr(request.app.state, "metrics_registry", None)
    if registry is None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(StoreCollector(store))
        request.app.state.metrics_registry = registry
    return registry


@router.get(
    "/metrics",
    summary="Prometheus metrics (bearer token when PIXELRUN_METRICS_TOKEN is set)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
def metrics(request: Request, settings: SettingsDep, store: StoreDep) -> Response:
    token = settings.metrics_token
    if token:
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            raise unauthorized("Missing or wrong metrics token: send `Authorization: Bearer <token>`.")
    return Response(generate_latest(_registry(request, store)), media_type=CONTENT_TYPE_LATEST)
