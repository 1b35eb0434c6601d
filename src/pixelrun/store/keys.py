"""Owners (organisations), their API keys and their credit."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from pixelrun.runs import utc_now
from pixelrun.store.database import read_tx, write_tx
from pixelrun.store.errors import OwnerNotFound
from pixelrun.store.records import AuthContext, KeyRecord, Owner
from pixelrun.store.tables import api_keys, owners

KEY_PREFIX = "px_"
KEY_DISPLAY_CHARS = 12


def hash_key(plain_key: str) -> str:
    return hashlib.sha256(plain_key.encode("utf-8")).hexdigest()


def generate_key() -> str:
    # token_urlsafe(30) gives exactly 40 url-safe characters (240 bits).
    return KEY_PREFIX + secrets.token_urlsafe(30)


def _owner_by_name(engine: Engine, name: str) -> Owner | None:
    with read_tx(engine) as conn:
        row = conn.execute(select(owners).where(owners.c.name == name)).mappings().first()
    return Owner.from_row(row) if row else None


def ensure_owner(engine: Engine, name: str, budget_cents: int | None = None) -> Owner:
    """The owner with this name, created with `budget_cents` if it does not exist yet.

    An existing owner is returned unchanged (use `set_budget` to change a budget).
    """
    existing = _owner_by_name(engine, name)
    if existing:
        return existing
    try:
        with write_tx(engine) as conn:
            conn.execute(
                insert(owners).values(
                    id=f"own_{uuid.uuid4().hex}",
                    name=name,
                    budget_cents=budget_cents,
                    spent_cents=0,
                    created_at=utc_now(),
                )
            )
    except IntegrityError:
        pass  # another process created it first; the lookup below returns theirs
    owner = _owner_by_name(engine, name)
    assert owner is not None
    return owner


def get_owner(engine: Engine, owner_id: str) -> Owner | None:
    with read_tx(engine) as conn:
        row = conn.execute(select(owners).where(owners.c.id == owner_id)).mappings().first()
    return Owner.from_row(row) if row else None


def set_budget(engine: Engine, owner_id: str, budget_cents: int | None) -> None:
    with write_tx(engine) as conn:
        result = conn.execute(update(owners).where(owners.c.id == owner_id).values(budget_cents=budget_cents))
        if result.rowcount != 1:
            raise OwnerNotFound(owner_id)


def balance(engine: Engine, owner_id: str) -> tuple[int | None, int]:
    """(budget_cents or None when unlimited, spent_cents)."""
    owner = get_owner(engine, owner_id)
    if owner is None:
        raise OwnerNotFound(owner_id)
    return owner.budget_cents, owner.spent_cents


def create_api_key(engine: Engine, owner_id: str, label: str) -> tuple[KeyRecord, str]:
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
    with write_tx(engine) as conn:
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


def revoke_api_key(engine: Engine, key_id: str) -> bool:
    """Revoke a key; False when it does not exist or was already revoked."""
    with write_tx(engine) as conn:
        result = conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=utc_now())
        )
    return result.rowcount == 1


def list_api_keys(engine: Engine, owner_id: str) -> list[KeyRecord]:
    with read_tx(engine) as conn:
        rows = conn.execute(
            select(api_keys).where(api_keys.c.owner_id == owner_id).order_by(api_keys.c.created_at)
        ).mappings()
        return [KeyRecord.from_row(r) for r in rows]


def count_api_keys(engine: Engine, include_revoked: bool = False) -> int:
    query = select(func.count()).select_from(api_keys)
    if not include_revoked:
        query = query.where(api_keys.c.revoked_at.is_(None))
    with read_tx(engine) as conn:
        return int(conn.execute(query).scalar_one())


def authenticate(engine: Engine, plain_key: str) -> AuthContext | None:
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
    with read_tx(engine) as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        return None
    return AuthContext(
        owner_id=row["owner_id"], owner_name=row["owner_name"], key_id=row["id"], key_label=row["label"]
    )
