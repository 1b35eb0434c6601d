"""`store.assets`: uploaded assets (docs/uploads.md).

An asset is created `pending` with the storage key its bytes will be uploaded to, and
becomes `ready` once the API has read the bytes back and checked them. Only ready assets
can be used in runs; every lookup by a caller is scoped to its owner.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, and_, delete, func, insert, or_, select, update

from pixelrun.runs import new_run_id, utc_now
from pixelrun.store.db.cursor import decode_cursor, encode_cursor
from pixelrun.store.db.database import read_tx, write_tx
from pixelrun.store.records import ASSET_PENDING as PENDING
from pixelrun.store.records import ASSET_READY as READY
from pixelrun.store.records import AssetRecord
from pixelrun.store.tables import assets


class AssetsRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @staticmethod
    def new_id() -> str:
        """A fresh asset id (UUIDv7), so the storage key can be chosen before the row exists."""
        return new_run_id()

    def create(
        self,
        asset_id: str,
        owner_id: str,
        name: str,
        mime_type: str,
        size_bytes: int,
        storage_key: str,
        upload_expires_at: datetime,
    ) -> AssetRecord:
        values = {
            "id": asset_id,
            "owner_id": owner_id,
            "name": name,
            "mime_type": mime_type,
            "size_bytes": size_bytes,
            "storage_key": storage_key,
            "status": PENDING,
            "width": None,
            "height": None,
            "created_at": utc_now(),
            "upload_expires_at": upload_expires_at,
            "confirmed_at": None,
        }
        with write_tx(self._engine) as conn:
            conn.execute(insert(assets).values(**values))
        return AssetRecord(**values)

    def get(self, asset_id: str, owner_id: str | None = None) -> AssetRecord | None:
        """The asset, or None when absent or (with `owner_id`) another owner's."""
        query = select(assets).where(assets.c.id == asset_id)
        if owner_id is not None:
            query = query.where(assets.c.owner_id == owner_id)
        with read_tx(self._engine) as conn:
            row = conn.execute(query).mappings().first()
        return AssetRecord.from_row(row) if row is not None else None

    def confirm(
        self, asset_id: str, owner_id: str, width: int | None, height: int | None
    ) -> AssetRecord | None:
        """Mark a pending asset ready; returns it (also when it already was), None when absent."""
        with write_tx(self._engine) as conn:
            conn.execute(
                update(assets)
                .where(assets.c.id == asset_id, assets.c.owner_id == owner_id, assets.c.status == PENDING)
                .values(status=READY, width=width, height=height, confirmed_at=utc_now())
            )
            row = (
                conn.execute(select(assets).where(assets.c.id == asset_id, assets.c.owner_id == owner_id))
                .mappings()
                .first()
            )
        return AssetRecord.from_row(row) if row is not None else None

    def pending_uploads(self, owner_id: str, now: datetime) -> tuple[int, datetime | None]:
        """How many of the owner's uploads are unconfirmed with a valid URL, and when the
        first of those URLs expires (the cap on open uploads, docs/uploads.md)."""
        query = select(func.count(), func.min(assets.c.upload_expires_at)).where(
            assets.c.owner_id == owner_id, assets.c.status == PENDING, assets.c.upload_expires_at > now
        )
        with read_tx(self._engine) as conn:
            count, first_expiry = conn.execute(query).one()
        return int(count), first_expiry

    def ready_ids(self, asset_ids: list[str], owner_id: str) -> set[str]:
        """Which of `asset_ids` are ready assets of `owner_id` (the check at run creation)."""
        if not asset_ids:
            return set()
        query = select(assets.c.id).where(
            assets.c.id.in_(asset_ids), assets.c.owner_id == owner_id, assets.c.status == READY
        )
        with read_tx(self._engine) as conn:
            return set(conn.execute(query).scalars())

    def page(
        self, owner_id: str, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[AssetRecord], str | None]:
        """The owner's ready assets, newest first, and the cursor of the next page (None on
        the last); `InvalidCursor` for a cursor that is not one."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        query = select(assets).where(assets.c.owner_id == owner_id, assets.c.status == READY)
        if cursor is not None:
            created_at, last_id = decode_cursor(cursor)
            query = query.where(
                or_(
                    assets.c.created_at < created_at,
                    and_(assets.c.created_at == created_at, assets.c.id < last_id),
                )
            )
        query = query.order_by(assets.c.created_at.desc(), assets.c.id.desc()).limit(limit + 1)
        with read_tx(self._engine) as conn:
            records = [AssetRecord.from_row(row) for row in conn.execute(query).mappings()]
        if len(records) <= limit:
            return records, None
        return records[:limit], encode_cursor(records[limit - 1].created_at, records[limit - 1].id)

    def existing_ids(self, asset_ids: list[str]) -> set[str]:
        """Which of `asset_ids` still exist, whoever owns them (the workers' LoRA cache sweep)."""
        if not asset_ids:
            return set()
        with read_tx(self._engine) as conn:
            return set(conn.execute(select(assets.c.id).where(assets.c.id.in_(asset_ids))).scalars())

    def delete(self, asset_id: str) -> bool:
        with write_tx(self._engine) as conn:
            return conn.execute(delete(assets).where(assets.c.id == asset_id)).rowcount > 0

    def created_before(self, cutoff: datetime, limit: int = 100) -> list[AssetRecord]:
        """The oldest assets created before `cutoff` (retention)."""
        query = select(assets).where(assets.c.created_at < cutoff).order_by(assets.c.created_at).limit(limit)
        with read_tx(self._engine) as conn:
            return [AssetRecord.from_row(row) for row in conn.execute(query).mappings()]

    def abandoned_uploads(self, expired_before: datetime, limit: int = 100) -> list[AssetRecord]:
        """Pending assets whose upload URL expired before the cutoff: never confirmed, never usable."""
        query = (
            select(assets)
            .where(assets.c.status == PENDING, assets.c.upload_expires_at < expired_before)
            .order_by(assets.c.upload_expires_at)
            .limit(limit)
        )
        with read_tx(self._engine) as conn:
            return [AssetRecord.from_row(row) for row in conn.execute(query).mappings()]
