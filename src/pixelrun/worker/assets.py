"""Read a run's `asset://` inputs from file storage: no outbound request, owner checked again.

The API refused another owner's asset at create; checking again here covers an asset
deleted (or a run input written) after that.
"""

from __future__ import annotations

from pixelrun.runs import resolve_asset_url
from pixelrun.storage import FileStorage, StorageError, StoredFileNotFoundError
from pixelrun.store import AssetRecord, Store


class AssetUnavailable(Exception):
    """The asset cannot be used: unknown, another owner's, unconfirmed, deleted or unreadable."""


class StoredAssets:
    """The assets one owner may use, read from storage (images here, LoRA files later)."""

    def __init__(self, store: Store, storage: FileStorage, owner_id: str) -> None:
        self.store = store
        self.storage = storage
        self.owner_id = owner_id

    def lookup(self, url: str) -> AssetRecord:
        """The owner's ready asset `url` names (no file read: LoRA files are cached by the worker)."""
        asset_id = resolve_asset_url(url)
        if asset_id is None:
            raise AssetUnavailable(f"not an asset URL: {url[:80]!r}")
        asset = self.store.assets.get(asset_id, self.owner_id)
        if asset is None or not asset.ready:
            raise AssetUnavailable(f"asset {asset_id} does not exist (deleted, expired or never confirmed)")
        return asset

    def read(self, url: str) -> bytes:
        asset = self.lookup(url)
        asset_id = asset.id
        try:
            return self.storage.read(asset.storage_key, asset.size_bytes)
        except StoredFileNotFoundError:
            raise AssetUnavailable(f"the file of asset {asset_id} is gone (deleted or expired)") from None
        except StorageError as exc:
            raise AssetUnavailable(f"asset {asset_id} could not be read: {exc}") from None
