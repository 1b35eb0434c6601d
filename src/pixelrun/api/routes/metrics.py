"""`GET /metrics`: Prometheus text format, for the whole fleet (see `pixelrun.api.metrics`)."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pixelrun.api.deps import ServicesDep, unauthorized

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    summary="Prometheus metrics (bearer token when PIXELRUN_METRICS_TOKEN is set)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
def metrics(request: Request, services: ServicesDep) -> Response:
    token = services.settings.metrics_token
    if token:
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            raise unauthorized("Missing or wrong metrics token: send `Authorization: Bearer <token>`.")
    return Response(generate_latest(services.metrics_registry), media_type=CONTENT_TYPE_LATEST)
