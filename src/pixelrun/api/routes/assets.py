"""Uploads and assets (docs/uploads.md): create an upload, PUT the bytes, confirm, then use the
asset's `asset://` URL in runs. `GET` and `DELETE /v1/assets/{id}`."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request, Response

from pixelrun import maintenance
from pixelrun.api import asset_service
from pixelrun.api.asset_wire import AssetOut, AssetUploadCreate, AssetUploadOut
from pixelrun.api.deps import CurrentAuth, ServicesDep
from pixelrun.api.errors import ApiError
from pixelrun.api.wire import ErrorOut
from pixelrun.runs import isoformat_utc
from pixelrun.storage import (
    InvalidKeyError,
    LocalFileStorage,
    StorageError,
    content_type_for,
    layout,
    validate_key,
)
from pixelrun.storage.content_types import normalize_content_type
from pixelrun.storage.signing import upload_signing_path

router = APIRouter(tags=["assets"])

# Bytes gathered from the request before one write to the file (one thread hop each).
_WRITE_BYTES = 1024 * 1024

_AUTH_ERRORS = {401: {"model": ErrorOut, "description": "Missing or invalid API key"}}


@router.post(
    "/asset-uploads",
    status_code=201,
    response_model=AssetUploadOut,
    summary="Start an upload: a signed URL to PUT the file to",
    responses={
        **_AUTH_ERRORS,
        422: {"model": ErrorOut, "description": "VALIDATION_ERROR"},
        429: {"model": ErrorOut, "description": "RATE_LIMITED: too many unconfirmed uploads"},
    },
)
def create_upload(body: AssetUploadCreate, auth: CurrentAuth, services: ServicesDep) -> AssetUploadOut:
    record, url = asset_service.create_upload(
        services.store,
        services.storage,
        services.settings,
        auth.owner_id,
        body.filename,
        body.mime_type,
        body.size_bytes,
    )
    return AssetUploadOut(
        asset_id=record.id, upload_url=url, expires_at=isoformat_utc(record.upload_expires_at)
    )


@router.post(
    "/asset-uploads/{asset_id}/confirmations",
    status_code=201,
    response_model=AssetOut,
    summary="Confirm an upload: the bytes are checked and the asset becomes usable",
    responses={
        **_AUTH_ERRORS,
        404: {"model": ErrorOut, "description": "NOT_FOUND"},
        409: {"model": ErrorOut, "description": "CONFLICT: nothing uploaded yet"},
        422: {"model": ErrorOut, "description": "VALIDATION_ERROR: not an allowed image, or wrong size"},
    },
)
def confirm_upload(asset_id: str, auth: CurrentAuth, services: ServicesDep) -> AssetOut:
    return AssetOut.from_record(
        asset_service.confirm_upload(
            services.store, services.storage, services.settings, auth.owner_id, asset_id
        )
    )


@router.get(
    "/assets/{asset_id}",
    response_model=AssetOut,
    summary="An asset",
    responses={**_AUTH_ERRORS, 404: {"model": ErrorOut, "description": "NOT_FOUND"}},
)
def get_asset(asset_id: str, auth: CurrentAuth, services: ServicesDep) -> AssetOut:
    asset = services.store.assets.get(asset_id, auth.owner_id)
    if asset is None or not asset.ready:
        raise asset_service.asset_not_found()
    return AssetOut.from_record(asset)


@router.delete(
    "/assets/{asset_id}",
    status_code=204,
    response_class=Response,
    summary="Delete an asset and its file",
    responses={**_AUTH_ERRORS, 404: {"model": ErrorOut, "description": "NOT_FOUND"}},
)
def delete_asset(asset_id: str, auth: CurrentAuth, services: ServicesDep) -> Response:
    asset = services.store.assets.get(asset_id, auth.owner_id)
    if asset is None:
        raise asset_service.asset_not_found()
    maintenance.delete_asset(services.store, services.storage, asset)
    return Response(status_code=204)


@router.put(
    "/uploads/{path:path}",
    summary="Receive an upload (local storage; the signed URL from POST /v1/asset-uploads)",
    response_class=Response,
    responses={
        403: {"model": ErrorOut, "description": "FORBIDDEN: expired or invalid link"},
        409: {"model": ErrorOut, "description": "CONFLICT: the upload was confirmed already"},
        413: {"model": ErrorOut, "description": "PAYLOAD_TOO_LARGE: more bytes than declared"},
        503: {"model": ErrorOut, "description": "UNAVAILABLE: the file could not be written"},
    },
)
async def put_upload(
    request: Request,
    path: Annotated[str, Path(description="The upload's storage key.")],
    services: ServicesDep,
    expires: Annotated[str | None, Query()] = None,
    signature: Annotated[str | None, Query()] = None,
) -> Response:
    # Only back ends whose upload URLs point here sign them with a `signer`.
    signer = getattr(services.storage, "signer", None)
    valid = (
        expires is not None
        and signature is not None
        and signer is not None
        and layout.is_upload_key(path)
        and signer.verify(upload_signing_path(path), expires, signature)
    )
    if not valid:
        raise _forbidden("The upload link has expired or is invalid.")
    try:
        validate_key(path)
    except InvalidKeyError:
        raise _forbidden("The upload link has expired or is invalid.") from None
    expected = content_type_for(path)
    if normalize_content_type(request.headers.get("content-type", "")) != expected:
        # As S3 does for a presigned PUT: the content type is part of what was signed.
        raise _forbidden(f"The upload must be sent with Content-Type: {expected}.")
    asset_id = layout.upload_asset_id(path)
    asset = await anyio.to_thread.run_sync(services.store.assets.get, asset_id) if asset_id else None
    if asset is None:
        raise _forbidden("The upload link has expired or is invalid.")
    if asset.ready:
        # Its bytes were checked and copied at the confirmation: nothing may replace them,
        # and a file here would sit outside retention (docs/uploads.md).
        raise ApiError(
            409, "CONFLICT", "This upload was confirmed already; start a new upload for new bytes."
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > asset.size_bytes:
        raise _too_large(asset.size_bytes)  # before a byte of the body is read
    if isinstance(services.storage, LocalFileStorage):
        await _stream_to(services.storage, request, path, expected, asset.size_bytes)
    else:  # a signer but not local storage: no upload URL of this server points here in practice
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > asset.size_bytes:
                raise _too_large(asset.size_bytes)
        try:
            await anyio.to_thread.run_sync(services.storage.put, path, bytes(data), expected)
        except StorageError as exc:
            raise ApiError(503, "UNAVAILABLE", f"Could not store the upload: {exc}") from None
    fresh = await anyio.to_thread.run_sync(services.store.assets.get, asset.id)
    if fresh is None or fresh.ready:
        # Confirmed (or deleted) while these bytes arrived: they must not stay behind.
        await anyio.to_thread.run_sync(services.storage.delete_prefix, layout.upload_prefix(asset.id))
        raise ApiError(409, "CONFLICT", "This upload was confirmed or deleted while the bytes arrived.")
    return Response(status_code=200)


async def _stream_to(
    storage: LocalFileStorage, request: Request, key: str, content_type: str, limit: int
) -> None:
    """The body straight to a temporary file, at most `limit` bytes, in place at the end:
    an upload is never held in memory whole (docs/uploads.md)."""
    try:
        writer = await anyio.to_thread.run_sync(storage.writer, key, content_type)
    except StorageError as exc:
        raise ApiError(503, "UNAVAILABLE", f"Could not store the upload: {exc}") from None
    try:
        pending = bytearray()
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise _too_large(limit)
            pending += chunk
            if len(pending) >= _WRITE_BYTES:
                await anyio.to_thread.run_sync(writer.write, bytes(pending))
                pending.clear()
        if pending:
            await anyio.to_thread.run_sync(writer.write, bytes(pending))
        await anyio.to_thread.run_sync(writer.commit)
    except StorageError as exc:
        writer.abort()
        raise ApiError(503, "UNAVAILABLE", f"Could not store the upload: {exc}") from None
    except BaseException:
        writer.abort()
        raise


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "PAYLOAD_TOO_LARGE",
        f"The upload is larger than the {limit} bytes declared when it was created.",
        headers={"Connection": "close"},
    )


def _forbidden(message: str) -> ApiError:
    return ApiError(403, "FORBIDDEN", message)
