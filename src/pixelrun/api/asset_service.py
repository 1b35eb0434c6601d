"""The upload flow's rules (docs/uploads.md), between the routes and the store and storage.

Bytes go to an upload key that the signed PUT URL names; the confirmation reads them
back, checks them, and writes them to the asset's own key, which no URL can write to
(storage/layout.py). So the bytes a run reads are the bytes that were checked, even if the
client PUTs again while its upload URL is still valid.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from pixelrun.api.errors import ApiError, validation_error
from pixelrun.config import Settings
from pixelrun.media import ImageRejected, decode_image, image_media_type
from pixelrun.runs import is_asset_url, resolve_asset_url, utc_now
from pixelrun.storage import FileStorage, StorageError, StoredFileNotFoundError, layout
from pixelrun.storage.content_types import normalize_content_type
from pixelrun.store import AssetRecord, Store

# The image types of docs/api.md#create-run-request, by the extension their keys get.
IMAGE_TYPES: dict[str, str] = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "image/tiff": "tiff",
    "image/gif": "gif",
}
SAFETENSORS_TYPE = "application/octet-stream"
SAFETENSORS_EXTENSION = "safetensors"


def asset_not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "Asset not found.")


def extension_for(filename: str, mime_type: str) -> str | None:
    """The key extension of an allowed upload, None when the type is not allowed."""
    media = mime_type.split(";", 1)[0].strip().lower()
    if media in IMAGE_TYPES:
        return IMAGE_TYPES[media]
    if media == SAFETENSORS_TYPE and filename.lower().endswith(".safetensors"):
        return SAFETENSORS_EXTENSION
    return None


def upload_key_of(asset: AssetRecord) -> str:
    return layout.upload_key(asset.id, asset.storage_key.rsplit(".", 1)[-1])


def create_upload(
    store: Store,
    storage: FileStorage,
    settings: Settings,
    owner_id: str,
    filename: str,
    mime_type: str,
    size: int,
) -> tuple[AssetRecord, str]:
    """A pending asset and the URL to PUT its bytes to."""
    extension = extension_for(filename, mime_type)
    if extension is None:
        allowed = ", ".join(IMAGE_TYPES)
        raise validation_error(
            [
                {
                    "loc": ["body", "mime_type"],
                    "msg": f"must be one of {allowed}, or {SAFETENSORS_TYPE} for a .safetensors file",
                    "type": "mime_type",
                }
            ]
        )
    if size > settings.max_upload_bytes:
        raise validation_error(
            [
                {
                    "loc": ["body", "size_bytes"],
                    "msg": f"must be at most {settings.max_upload_bytes} bytes",
                    "type": "less_than_equal",
                }
            ]
        )
    now = utc_now()
    pending, first_expiry = store.assets.pending_uploads(owner_id, now)
    if pending >= settings.max_pending_uploads:
        # Each open upload may be up to max_upload_bytes on disk: the cap bounds one owner's
        # share (docs/uploads.md). Confirming, deleting or letting a URL expire frees a place.
        retry = max(int((first_expiry - now).total_seconds()) + 1, 1) if first_expiry else 60
        raise ApiError(
            429,
            "RATE_LIMITED",
            f"{pending} uploads are open (the limit is {settings.max_pending_uploads}): confirm or "
            "delete one, or wait until an upload URL expires.",
            headers={"Retry-After": str(retry)},
        )
    asset_id = store.assets.new_id()
    ttl = settings.upload_url_ttl_seconds
    url = storage.upload_url_for(layout.upload_key(asset_id, extension), ttl, size)
    record = store.assets.create(
        asset_id,
        owner_id,
        filename,
        mime_type.split(";", 1)[0].strip().lower(),
        size,
        layout.asset_key(asset_id, extension),
        upload_expires_at=utc_now() + timedelta(seconds=ttl),
    )
    return record, url


def confirm_upload(
    store: Store, storage: FileStorage, settings: Settings, owner_id: str, asset_id: str
) -> AssetRecord:
    asset = store.assets.get(asset_id, owner_id)
    if asset is None:
        raise asset_not_found()
    if asset.ready:
        return asset  # confirming twice is harmless
    key = upload_key_of(asset)
    try:
        data = storage.read(key, asset.size_bytes)
    except StoredFileNotFoundError:
        raise ApiError(409, "CONFLICT", "Nothing has been uploaded for this asset yet.") from None
    except StorageError:
        # Larger than declared (read stops past the declared size).
        _discard(storage, asset)
        raise _bad_upload(f"the uploaded file is larger than the declared {asset.size_bytes} bytes") from None
    if len(data) != asset.size_bytes:
        _discard(storage, asset)
        raise _bad_upload(f"the uploaded file has {len(data)} bytes, not the declared {asset.size_bytes}")
    try:
        width, height = _check_content(asset, data, settings)
    except ApiError:
        _discard(storage, asset)
        raise
    storage.put(asset.storage_key, data, storage_content_type(asset))
    confirmed = store.assets.confirm(asset.id, owner_id, width, height)
    _discard(storage, asset)
    if confirmed is None:  # deleted while we checked it
        storage.delete_prefix(layout.asset_prefix(asset.id))
        raise asset_not_found()
    return confirmed


def create_checked_asset(
    store: Store,
    storage: FileStorage,
    settings: Settings,
    owner_id: str,
    filename: str,
    declared_type: str,
    data: bytes,
    extra_files: Callable[[str], Iterable[tuple[str, bytes, str]]] = lambda _: (),
) -> AssetRecord:
    """A ready asset from bytes sent in one request (Replicate's `POST /v1/files`,
    docs/compatibility.md#replicate-files), under the rules of an upload: at most
    `max_upload_bytes`, an allowed image that decodes, or a `.safetensors` LoRA.

    An image's type is what its bytes are, whatever was declared (clients guess it from
    the file name, or send application/octet-stream). `extra_files(asset_id)` names more
    files to keep beside the bytes (key, data, content type); they are written before the
    asset becomes ready. The row comes first, pending: a crash before it is ready leaves
    what the janitor deletes as an abandoned upload."""
    if len(data) > settings.max_upload_bytes:
        raise ApiError(
            413,
            "PAYLOAD_TOO_LARGE",
            f"Files are limited to {settings.max_upload_bytes} bytes (PIXELRUN_MAX_UPLOAD_BYTES); "
            f"this one has {len(data)}.",
        )
    if not data:
        raise _bad_file("the file is empty")
    safetensors = normalize_content_type(declared_type) == SAFETENSORS_TYPE and filename.lower().endswith(
        ".safetensors"
    )
    media_type = SAFETENSORS_TYPE if safetensors else image_media_type(data)
    try:
        width, height = _check_bytes(safetensors, data, settings)
    except ApiError as exc:
        raise _bad_file(f"{exc.message.removeprefix('the uploaded file ')}") from None
    if media_type is None:  # decoded, yet not recognised: cannot happen for the allowed formats
        raise _bad_file("is not an allowed image")
    extension = SAFETENSORS_EXTENSION if safetensors else IMAGE_TYPES[media_type]
    asset_id = store.assets.new_id()
    record = store.assets.create(
        asset_id,
        owner_id,
        filename,
        media_type,
        len(data),
        layout.asset_key(asset_id, extension),
        upload_expires_at=utc_now() + timedelta(seconds=settings.upload_url_ttl_seconds),
    )
    try:
        storage.put(record.storage_key, data, media_type)
        for key, extra, content_type in extra_files(asset_id):
            storage.put(key, extra, content_type)
    except StorageError as exc:
        storage.delete_prefix(layout.asset_prefix(asset_id))
        store.assets.delete(asset_id)
        raise ApiError(503, "UNAVAILABLE", f"Could not store the file: {exc}") from None
    confirmed = store.assets.confirm(asset_id, owner_id, width, height)
    if confirmed is None:  # deleted while we stored it
        storage.delete_prefix(layout.asset_prefix(asset_id))
        raise asset_not_found()
    return confirmed


def storage_content_type(asset: AssetRecord) -> str:
    return SAFETENSORS_TYPE if asset.storage_key.endswith(".safetensors") else asset.mime_type


def asset_urls_in(
    value: Any, loc: tuple[str | int, ...]
) -> list[tuple[tuple[str | int, ...], str, str | None]]:
    """The asset URLs in a run's input: (where, url, asset id or None when malformed)."""
    return list(_asset_urls(value, loc))


def asset_reference_errors(
    store: Store, owner_id: str, found: list[tuple[tuple[str | int, ...], str, str | None]]
) -> list[dict]:
    """Field errors for the asset URLs `asset_urls_in` found that are malformed or not the
    caller's ready assets (one query)."""
    if not found:
        return []
    ids = [asset_id for _, _, asset_id in found if asset_id is not None]
    usable = store.assets.ready_ids(ids, owner_id)
    errors = []
    for where, url, asset_id in found:
        if asset_id is None:
            errors.append({"loc": list(where), "msg": f"malformed asset URL {url!r}", "type": "asset_url"})
        elif asset_id not in usable:
            errors.append(
                {
                    "loc": list(where),
                    "msg": f"asset {asset_id} does not exist or is not confirmed",
                    "type": "asset_not_found",
                }
            )
    return errors


def _asset_urls(
    value: Any, loc: tuple[str | int, ...]
) -> Iterable[tuple[tuple[str | int, ...], str, str | None]]:
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, loc)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if is_asset_url(item):
                yield where, item, resolve_asset_url(item)
        elif isinstance(item, dict):
            stack.extend((sub, (*where, key)) for key, sub in item.items())
        elif isinstance(item, list):
            stack.extend((sub, (*where, index)) for index, sub in enumerate(item))


def _check_content(asset: AssetRecord, data: bytes, settings: Settings) -> tuple[int | None, int | None]:
    return _check_bytes(asset.storage_key.endswith(".safetensors"), data, settings)


def _check_bytes(safetensors: bool, data: bytes, settings: Settings) -> tuple[int | None, int | None]:
    if safetensors:
        if not _is_safetensors(data):
            raise _bad_upload("the uploaded file is not a safetensors file")
        return None, None
    try:
        image = decode_image(data, max_pixels=settings.max_image_pixels)
    except ImageRejected as exc:
        raise _bad_upload(f"the uploaded file is not an allowed image: {exc}") from None
    return image.width, image.height


def _is_safetensors(data: bytes) -> bool:
    # The format: an 8-byte little-endian header length, then a JSON object header.
    if len(data) < 8:
        return False
    (length,) = struct.unpack("<Q", data[:8])
    if length > len(data) - 8:
        return False
    try:
        header = json.loads(data[8 : 8 + length])
    except ValueError:
        return False
    return isinstance(header, dict)


def _bad_upload(message: str) -> ApiError:
    return validation_error([{"loc": ["upload"], "msg": message, "type": "upload_invalid"}], message=message)


def _bad_file(message: str) -> ApiError:
    text = f"content: the file {message}"
    return validation_error([{"loc": ["body", "content"], "msg": text, "type": "file_invalid"}], message=text)


def _discard(storage: FileStorage, asset: AssetRecord) -> None:
    # So the client can PUT again (while its URL is valid) and confirm again.
    storage.delete_prefix(layout.upload_prefix(asset.id))
