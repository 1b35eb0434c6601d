"""Asset URLs: how a run's input names an uploaded asset (docs/uploads.md).

An asset's `url` is ``asset://<asset id>``. A scheme of its own rather than an http(s)
link: it names the asset, not a place to fetch it from, so workers on any machine read
the bytes from file storage (never over the network), and it cannot be mistaken for, or
turned into, an outbound request. Torch-free and dependency-free, so the input schemas,
the API's ownership check and the LoRA loader all share this one parser.
"""

from __future__ import annotations

import re

ASSET_URL_SCHEME = "asset://"
_ASSET_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def asset_url(asset_id: str) -> str:
    return ASSET_URL_SCHEME + asset_id


def is_asset_url(url: object) -> bool:
    """True for anything that claims the asset scheme, well-formed or not (for error messages)."""
    return isinstance(url, str) and url[: len(ASSET_URL_SCHEME)].lower() == ASSET_URL_SCHEME


def resolve_asset_url(url: object) -> str | None:
    """The asset id of a well-formed asset URL, else None."""
    if not isinstance(url, str) or not url.startswith(ASSET_URL_SCHEME):
        return None
    asset_id = url[len(ASSET_URL_SCHEME) :]
    return asset_id if _ASSET_ID.fullmatch(asset_id) else None
