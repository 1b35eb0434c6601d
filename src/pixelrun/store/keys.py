"""`store.keys`: API keys. Only a key's SHA-256 is stored; the plain key is shown once."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from sqlalchemy import Engine, func, insert, or_, select, update

from pixelrun.runs import utc_now
from pixelrun.store.db.database import read_tx, write_tx
from pixelrun.store.errors import OwnerNotFound
from pixelrun.store.records import AuthContext, KeyRecord
from pixelrun.store.tables import api_keys, owners

KEY_PREFIX = "px_"
KEY_DISPLAY_CHARS = 12
# A shorter prefix than `px_abc` names too many keys to be a safe way to pick one.
MIN_PREFIX_CHARS = 6


def hash_key(plain_key: str) -> str:
    return hashlib.sha256(plain_key.encode("utf-8")).hexdigest()


def generate_key() -> str:
    # token_urlsafe(30) gives exactly 40 url-safe characters (240 bits).
    return KEY_PREFIX + secrets.token_urlsafe(30)


class KeysRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, owner_id: str, label: str) -> tuple[KeyRecord, str]:
        """A new key for the owner: its record and the plain key, which is never stored."""
        plain = generate_key()
        record = KeyRecord(
            id=f"key_{uuid.uuid4().hex}",
            owner_id=owner_id,
            label=label,
            key_prefix=plain[:KEY_DISPLAY_CHARS],
            created_at=utc_now(),
            revoked_at=None,
        )
        with write_tx(self._engine) as conn:
            if conn.execute(select(owners.c.id).where(owners.c.id == owner_id)).first() is None:
                raise OwnerNotFound(owner_id)
            conn.execute(
                insert(api_keys).values(
                    id=record.id,
                    owner_id=owner_id,
                    label=label,
                    key_prefix=record.key_prefix,
                    key_hash=hash_key(plain),
                    created_at=record.created_at,
                )
            )
        return record, plain

    def revoke(self, key_id: str) -> bool:
        """Revoke a key; False when it does not exist or was already revoked."""
        with write_tx(self._engine) as conn:
            result = conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=utc_now())
            )
        return result.rowcount == 1

    def of_owner(self, owner_id: str) -> list[KeyRecord]:
        """The owner's keys, oldest first, revoked ones included."""
        with read_tx(self._engine) as conn:
            rows = conn.execute(
                select(api_keys).where(api_keys.c.owner_id == owner_id).order_by(api_keys.c.created_at)
            ).mappings()
            return [KeyRecord.from_row(r) for r in rows]

    def all(self, owner_id: str | None = None) -> list[KeyRecord]:
        """Every key (or every key of one owner), oldest first, revoked ones included."""
        query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        if owner_id is not None:
            query = query.where(api_keys.c.owner_id == owner_id)
        with read_tx(self._engine) as conn:
            return [KeyRecord.from_row(r) for r in conn.execute(query).mappings()]

    def find(self, reference: str) -> list[KeyRecord]:
        """The keys `reference` names: a key id, the start of a displayed prefix (`px_...`,
        at least `MIN_PREFIX_CHARS`) or the whole plain key."""
        reference = reference.strip()
        if not reference:
            return []
        condition = or_(api_keys.c.id == reference, api_keys.c.key_hash == hash_key(reference))
        if MIN_PREFIX_CHARS <= len(reference) <= KEY_DISPLAY_CHARS:
            escaped = reference.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            condition = or_(condition, api_keys.c.key_prefix.like(f"{escaped}%", escape="\\"))
        query = select(api_keys).where(condition).order_by(api_keys.c.created_at)
        with read_tx(self._engine) as conn:
            rows = conn.execute(query).mappings().all()
        # SQLite's LIKE ignores case; the prefix must match exactly.
        digest = hash_key(reference)
        return [
            KeyRecord.from_row(r)
            for r in rows
            if reference in (r["id"], r["key_prefix"][: len(reference)]) or r["key_hash"] == digest
        ]

    def count(self, include_revoked: bool = False) -> int:
        query = select(func.count()).select_from(api_keys)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        with read_tx(self._engine) as conn:
            return int(conn.execute(query).scalar_one())

    def authenticate(self, plain_key: str) -> AuthContext | None:
        """The caller behind a plain key, or None for an unknown or revoked key.

        The lookup is by the key's SHA-256, so no secret is ever compared byte by byte.
        """
        if not plain_key:
            return None
        query = (
            select(
                api_keys.c.id,
                api_keys.c.label,
                owners.c.id.label("owner_id"),
                owners.c.name.label("owner_name"),
            )
            .join(owners, owners.c.id == api_keys.c.owner_id)
            .where(api_keys.c.key_hash == hash_key(plain_key), api_keys.c.revoked_at.is_(None))
        )
        with read_tx(self._engine) as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        return AuthContext(
            owner_id=row["owner_id"], owner_name=row["owner_name"], key_id=row["id"], key_label=row["label"]
        )
