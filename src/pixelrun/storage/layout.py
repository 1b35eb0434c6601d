"""Where Pixelrun keeps each kind of file: every storage key is spelled out here, and only here.

    runs/<run_id>/<n>.<ext>           a run's output images, written by the worker
    uploads/<asset_id>/upload.<ext>   the bytes a client PUTs to its signed upload URL
    assets/<asset_id>/asset.<ext>     an asset's checked bytes, written by the confirmation
    assets/<asset_id>/file.json       checksums and metadata of an asset made by POST /v1/files

Each thing has a folder of its own, so deleting it is one `delete_prefix`. An upload and
its asset are two keys on purpose: the signed PUT URL names only the upload key, so no
URL can overwrite the bytes a run reads (docs/uploads.md).

Which characters a key may hold is another matter, checked by every back end:
storage/keys.py.
"""

from __future__ import annotations

RUNS_PREFIX = "runs/"
UPLOADS_PREFIX = "uploads/"
ASSETS_PREFIX = "assets/"


def run_prefix(run_id: str) -> str:
    """The folder of a run's output files."""
    return f"{RUNS_PREFIX}{run_id}/"


def run_output_key(run_id: str, index: int, extension: str) -> str:
    """The key of a run's `index`-th output image (from 0)."""
    return f"{run_prefix(run_id)}{index}.{extension}"


def upload_prefix(asset_id: str) -> str:
    """The folder an asset's upload URL writes to."""
    return f"{UPLOADS_PREFIX}{asset_id}/"


def upload_key(asset_id: str, extension: str) -> str:
    """The key an asset's signed upload URL names."""
    return f"{upload_prefix(asset_id)}upload.{extension}"


def is_upload_key(key: str) -> bool:
    """Whether `key` is one an upload URL may name (the local back end's PUT route checks)."""
    return key.startswith(UPLOADS_PREFIX)


def upload_asset_id(key: str) -> str | None:
    """The asset whose upload key `key` is, None when it is not one."""
    parts = key.split("/")
    if len(parts) != 3 or f"{parts[0]}/" != UPLOADS_PREFIX or not parts[2].startswith("upload."):
        return None
    return parts[1] or None


def asset_prefix(asset_id: str) -> str:
    """The folder of an asset's checked bytes."""
    return f"{ASSETS_PREFIX}{asset_id}/"


def asset_key(asset_id: str, extension: str) -> str:
    """The key of an asset's checked bytes, which no URL can write to."""
    return f"{asset_prefix(asset_id)}asset.{extension}"


def asset_file_info_key(asset_id: str) -> str:
    """The key of what Replicate's files API tells of an asset beyond its row (checksums,
    the client's metadata); in the asset's folder, so it goes with it."""
    return f"{asset_prefix(asset_id)}file.json"
