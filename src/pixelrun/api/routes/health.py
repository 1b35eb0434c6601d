"""Liveness and readiness (no API key: load balancers and orchestrators call these)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from pixelrun.api.deps import ServicesDep
from pixelrun.api.errors import error_response
from pixelrun.api.middleware import STORE_RETRY_AFTER_SECONDS
from pixelrun.api.models_catalog import CATALOG
from pixelrun.api.wire import (
    CheckOut,
    HealthOut,
    NotReadyOut,
    ReadinessChecks,
    ReadinessOut,
    WorkerFailureOut,
    WorkersCheckOut,
)
from pixelrun.runs import isoformat_utc
from pixelrun.storage import FileStorage
from pixelrun.storage.identity import mismatch
from pixelrun.store import Store

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut, summary="Liveness: the process answers")
async def health() -> HealthOut:
    return HealthOut()


@router.get(
    "/readiness",
    response_model=ReadinessOut,
    summary="Readiness: store, storage and workers",
    responses={503: {"model": NotReadyOut, "description": "UNAVAILABLE, with the checks"}},
)
def readiness(services: ServicesDep) -> ReadinessOut | JSONResponse:
    store, storage, settings = services.store, services.storage, services.settings
    store_check = _check_store(store)
    storage_check = _check_storage(storage)
    if storage_check.ok and store_check.ok:
        storage_check = _check_storage_is_shared(store, storage)
    workers_check = (
        _check_workers(store)
        if store_check.ok
        else WorkersCheckOut(ok=False, detail="store unavailable", ready={})
    )
    checks = ReadinessChecks(store=store_check, storage=storage_check, workers=workers_check)
    # Workers started on demand (scaled from zero, docs/deployment.md): none running is normal,
    # and a replica taken out of the load balancer for it could never queue the run that starts one.
    workers_ok = workers_check.ok or not settings.readiness_requires_worker
    if store_check.ok and storage_check.ok and workers_ok:
        return ReadinessOut(checks=checks)
    failing = [name for name, check in checks if not check.ok]
    return error_response(
        503,
        "UNAVAILABLE",
        f"Not ready: {', '.join(failing)}.",
        headers={"Retry-After": str(STORE_RETRY_AFTER_SECONDS)} if not store_check.ok else None,
        extra={"checks": checks.model_dump(mode="json")},
    )


def _check_store(store: Store) -> CheckOut:
    try:
        store.ping()
    except Exception as exc:  # any failure means "not ready", never a 500
        log.warning("readiness: store check failed: %s", exc)
        return CheckOut(ok=False, detail=type(exc).__name__)
    return CheckOut(ok=True)


def _check_storage(storage: FileStorage) -> CheckOut:
    try:
        storage.ping()
    except Exception as exc:
        log.warning("readiness: storage check failed: %s", exc)
        return CheckOut(ok=False, detail=type(exc).__name__)
    return CheckOut(ok=True)


def _check_storage_is_shared(store: Store, storage: FileStorage) -> CheckOut:
    """Processes sharing the store must share file storage too (docs/deployment.md)."""
    try:
        problem = mismatch(storage, store.storage_identities)
    except Exception as exc:
        log.warning("readiness: storage identity check failed: %s", exc)
        return CheckOut(ok=False, detail=type(exc).__name__)
    if problem:
        log.warning("readiness: %s", problem)
    return CheckOut(ok=problem is None, detail=problem)


def _check_workers(store: Store) -> WorkersCheckOut:
    try:
        summary = store.availability.summary(list(CATALOG))
    except Exception as exc:
        log.warning("readiness: workers check failed: %s", exc)
        return WorkersCheckOut(ok=False, detail=type(exc).__name__, ready={})
    failures: dict[str, WorkerFailureOut] = {}
    problems: list[str] = []
    for model_id, availability in summary.items():
        if availability.ready:
            continue
        failure = availability.last_failure
        if availability.loading:
            problems.append(f"{model_id}: {'warming up' if availability.warming_up else 'loading'}")
        elif failure is not None:
            failures[model_id] = WorkerFailureOut(
                reason=failure.reason,
                message=failure.message,
                worker=failure.worker_name,
                failed_at=isoformat_utc(failure.failed_at),
            )
            problems.append(f"{model_id}: {failure.message}")
        # A model no worker was told to serve (say `--models` names a subset) is not a
        # readiness problem; it shows as 0 in `ready`, creates for it answer 503 after the
        # grace period and its queued runs fail then (docs/deployment.md#health-and-readiness).
    if not any(availability.ready for availability in summary.values()) and not problems:
        problems.append("any model: no worker")
    return WorkersCheckOut(
        ok=not problems,
        detail=f"no ready worker for {'; '.join(problems)}" if problems else None,
        ready={model_id: availability.ready for model_id, availability in summary.items()},
        loading={model_id: availability.loading for model_id, availability in summary.items()},
        failures=failures,
    )
