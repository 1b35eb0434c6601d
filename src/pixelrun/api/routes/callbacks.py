"""Placeholder for the callback routes (SPEC §6); the real module replaces this file.

Every route answers 501 NOT_IMPLEMENTED with the error envelope, so the paths exist in
the app and its OpenAPI document from the start.
"""

from __future__ import annotations

from fastapi import APIRouter

from pixelrun.api.errors import ApiError
from pixelrun.api.wire import ErrorOut

router = APIRouter(tags=["callbacks"], responses={501: {"model": ErrorOut, "description": "NOT_IMPLEMENTED"}})


def _not_implemented() -> ApiError:
    return ApiError(501, "NOT_IMPLEMENTED", "Callback routes are not implemented yet.")


@router.get("/runs/{run_id}/callback", summary="A run's callback deliveries")
def list_deliveries(run_id: str) -> None:
    raise _not_implemented()


@router.post("/runs/{run_id}/callback-redeliveries", summary="Deliver a run's callback again")
def redeliver(run_id: str) -> None:
    raise _not_implemented()


@router.post("/callback-secrets", summary="Create a callback signing secret")
def create_secret() -> None:
    raise _not_implemented()


@router.get("/callback-secrets", summary="List callback signing secrets")
def list_secrets() -> None:
    raise _not_implemented()


@router.delete("/callback-secrets/{secret_id}", summary="Revoke a callback signing secret")
def revoke_secret(secret_id: str) -> None:
    raise _not_implemented()
