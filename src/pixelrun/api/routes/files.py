"""Output files behind signed, expiring URLs: no API key, the signature is the permission."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse, Response, StreamingResponse

from pixelrun.api.deps import ServicesDep
from pixelrun.api.errors import ApiError
from pixelrun.api.wire import ErrorOut
from pixelrun.storage import LocalFileStorage, StorageError, StoredFileNotFoundError, validate_key
from pixelrun.storage.identity import elsewhere

router = APIRouter(tags=["files"])

_CHUNK = 64 * 1024


def _not_found() -> ApiError:
    # One answer for a bad, expired or missing file: a caller learns nothing by probing.
    return ApiError(404, "NOT_FOUND", "File not found, or its link has expired or is invalid.")


def _quietly(check: Callable[[], str | None]) -> str | None:
    try:
        return check()
    except Exception:  # the store may be down: the plain answer then
        return None


@router.get(
    "/files/{path:path}",
    summary="Download an output file (signed URL)",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}, "description": "The file"},
        404: {"model": ErrorOut, "description": "NOT_FOUND"},
    },
)
def get_file(
    path: Annotated[str, Path(description="The storage key, e.g. runs/<id>/0.png")],
    services: ServicesDep,
    expires: Annotated[str | None, Query(description="Unix time the link expires at.")] = None,
    signature: Annotated[str | None, Query(description="The link's signature.")] = None,
) -> Response:
    # Every back end served through this route signs its URLs with a `signer`.
    signer = getattr(services.storage, "signer", None)
    if expires is None or signature is None or signer is None or not signer.verify(path, expires, signature):
        raise _not_found()
    try:
        validate_key(path)
        stat = services.storage.stat(path)
    except StoredFileNotFoundError:
        # A valid link to a file this storage lacks: say so when other processes of the
        # deployment write elsewhere (docs/deployment.md, "Settings that must agree").
        message = _quietly(lambda: elsewhere(services.storage, services.store.storage_identities))
        raise (ApiError(404, "NOT_FOUND", message) if message else _not_found()) from None
    except StorageError:
        raise _not_found() from None
    headers = {
        # Cacheable until the link expires, but only by the client that holds the link.
        "Cache-Control": f"private, max-age={max(int(expires) - int(time.time()), 0)}",
        "X-Content-Type-Options": "nosniff",
    }
    if isinstance(services.storage, LocalFileStorage):
        return FileResponse(services.storage.path_for(path), media_type=stat.content_type, headers=headers)
    stream = services.storage.open(path)  # other back ends: stream what they give us

    def chunks() -> Iterator[bytes]:
        with stream:
            while chunk := stream.read(_CHUNK):
                yield chunk

    headers["Content-Length"] = str(stat.size)
    return StreamingResponse(chunks(), media_type=stat.content_type, headers=headers)
