"""Inline `data:` images of a create: size-checked from their base64 length, then moved out
of the run's input into file storage as assets of the caller (docs/uploads.md#inline-images).

A run's input is read on every `GET /v1/runs/{id}`, list page and stream event, and kept
for good (it is the record); a 25 MB image is 33 MB of base64. So the create stores each
inline image as an asset (`assets/<id>/asset.<ext>`, like a confirmed upload) and the
run's input names it `asset://<id>`: the worker reads it from storage with the owner
check every asset URL gets, and retention deletes it with the outputs.

Nothing is stored before every image passed its checks (`inline_image_problems` reads
lengths only, `decode_inline_images` decodes), and the idempotency hash is taken on the
request as sent, so a retry with the same `data:` URIs replays the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pixelrun.api.asset_service import IMAGE_TYPES
from pixelrun.maintenance import delete_asset
from pixelrun.media import ImageRejected, parse_data_uri
from pixelrun.runs import asset_url, utc_now
from pixelrun.storage import FileStorage, layout
from pixelrun.store import AssetRecord, Store

#: The input field every model's input has (`engines.RunInput.image_urls`).
FIELD = "image_urls"
# The header ("data:image/png;base64") is short; bounding the search keeps a URI without a
# comma from being scanned whole.
_MAX_HEADER = 256
#: Media types some clients send for JPEG besides the registered one.
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg"}


@dataclass(frozen=True)
class InlineImage:
    index: int
    media_type: str
    data: bytes


def _problem(loc: tuple[str | int, ...], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": kind}


def decoded_size(payload_length: int, tail: str) -> int:
    """The decoded size of base64 text of `payload_length` characters ending in `tail`."""
    return payload_length // 4 * 3 - (len(tail) - len(tail.rstrip("=")))


def inline_urls(stored_input: dict[str, Any]) -> list[tuple[int, str]]:
    """(index, uri) of the `data:` URIs among the input's images."""
    urls = stored_input.get(FIELD)
    if not isinstance(urls, list):
        return []
    return [(i, url) for i, url in enumerate(urls) if isinstance(url, str) and url[:5].lower() == "data:"]


def inline_image_problems(
    found: list[tuple[int, str]], max_bytes: int, loc: tuple[str | int, ...]
) -> list[dict[str, Any]]:
    """422 field errors for images over `max_bytes` (PIXELRUN_MAX_IMAGE_BYTES) or of a type
    not taken, from the header and the base64 length alone: nothing is decoded."""
    problems = []
    for index, uri in found:
        where = (*loc, FIELD, index)
        comma = uri.find(",", 5, _MAX_HEADER)
        media_type = uri[5:comma].split(";", 1)[0].strip().lower() if comma > 0 else ""
        media_type = _ALIASES.get(media_type, media_type)
        if media_type not in IMAGE_TYPES:
            allowed = ", ".join(IMAGE_TYPES)
            problems.append(_problem(where, f"a data: image must be one of {allowed}", "image_type"))
            continue
        size = decoded_size(len(uri) - comma - 1, uri[-2:])
        if size > max_bytes:
            problems.append(
                _problem(
                    where,
                    f"a data: image of {size} bytes; at most {max_bytes} bytes (PIXELRUN_MAX_IMAGE_BYTES)",
                    "image_too_large",
                )
            )
    return problems


def decode_inline_images(
    found: list[tuple[int, str]], max_bytes: int, loc: tuple[str | int, ...]
) -> tuple[list[InlineImage], list[dict[str, Any]]]:
    """The decoded images, or 422 field errors (invalid base64, empty)."""
    images, problems = [], []
    for index, uri in found:
        try:
            media_type, data = parse_data_uri(uri, max_bytes=max_bytes)
        except ImageRejected as exc:
            problems.append(_problem((*loc, FIELD, index), str(exc), "image_invalid"))
            continue
        images.append(InlineImage(index, _ALIASES.get(media_type, media_type), data))
    return images, problems


def store_inline_images(
    store: Store, storage: FileStorage, owner_id: str, stored_input: dict[str, Any], images: list[InlineImage]
) -> tuple[dict[str, Any], list[AssetRecord]]:
    """Each image as a ready asset of `owner_id`; the input with `asset://` URLs in their place.

    The row goes first as a pending upload whose URL already expired: a crash before the
    confirmation leaves something the janitor deletes within the hour (abandoned uploads),
    never a file no row points at.
    """
    urls = list(stored_input[FIELD])
    stored: list[AssetRecord] = []
    try:
        for image in images:
            extension = IMAGE_TYPES[image.media_type]
            asset_id = store.assets.new_id()
            asset = store.assets.create(
                asset_id,
                owner_id,
                f"{FIELD}[{image.index}].{extension}",
                image.media_type,
                len(image.data),
                layout.asset_key(asset_id, extension),
                upload_expires_at=utc_now() - timedelta(seconds=1),
            )
            stored.append(asset)
            storage.put(asset.storage_key, image.data, image.media_type)
            confirmed = store.assets.confirm(asset_id, owner_id, None, None)
            if confirmed is None:  # cannot happen: nothing else knows the id yet
                raise RuntimeError(f"inline image asset {asset_id} vanished")
            stored[-1] = confirmed
            urls[image.index] = asset_url(asset_id)
    except BaseException:
        discard_inline_images(store, storage, stored)
        raise
    return {**stored_input, FIELD: urls}, stored


def discard_inline_images(store: Store, storage: FileStorage, assets: list[AssetRecord]) -> None:
    """The assets of a create that made no run (refused, or an idempotent replay)."""
    for asset in assets:
        delete_asset(store, storage, asset)
