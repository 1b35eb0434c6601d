"""Deleting an asset: what `DELETE /v1/assets/{id}` and retention both do."""

from __future__ import annotations

from pixelrun.storage import FileStorage, layout
from pixelrun.store import AssetRecord, Store


def delete_asset(store: Store, storage: FileStorage, asset: AssetRecord) -> None:
    """Its upload and its checked bytes, then its row.

    Files first: a crash in between leaves a row that a retry deletes, never an orphan file.
    """
    storage.delete_prefix(layout.upload_prefix(asset.id))
    storage.delete_prefix(layout.asset_prefix(asset.id))
    store.assets.delete(asset.id)
