"""`store.owners`: owners (organisations) and their credit."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from pixelrun.runs import utc_now
from pixelrun.store.db.database import read_tx, write_tx
from pixelrun.store.errors import OwnerNotFound
from pixelrun.store.records import Owner
from pixelrun.store.tables import owners


class OwnersRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def ensure(self, name: str, budget_micros: int | None = None) -> Owner:
        """The owner with this name, created with `budget_micros` if it does not exist yet.

        An existing owner is returned unchanged (use `set_budget` to change a budget).
        """
        existing = self._by_name(name)
        if existing:
            return existing
        try:
            with write_tx(self._engine) as conn:
                conn.execute(
                    insert(owners).values(
                        id=f"own_{uuid.uuid4().hex}",
                        name=name,
                        budget_micros=budget_micros,
                        spent_micros=0,
                        created_at=utc_now(),
                    )
                )
        except IntegrityError:
            pass  # another process created it first; the lookup below returns theirs
        owner = self._by_name(name)
        assert owner is not None
        return owner

    def get(self, owner_id: str) -> Owner | None:
        with read_tx(self._engine) as conn:
            row = conn.execute(select(owners).where(owners.c.id == owner_id)).mappings().first()
        return Owner.from_row(row) if row else None

    def named(self, name: str) -> Owner | None:
        return self._by_name(name)

    def all(self) -> list[Owner]:
        with read_tx(self._engine) as conn:
            rows = conn.execute(select(owners).order_by(owners.c.name)).mappings()
            return [Owner.from_row(row) for row in rows]

    def set_budget(self, owner_id: str, budget_micros: int | None) -> None:
        with write_tx(self._engine) as conn:
            result = conn.execute(
                update(owners).where(owners.c.id == owner_id).values(budget_micros=budget_micros)
            )
            if result.rowcount != 1:
                raise OwnerNotFound(owner_id)

    def balance(self, owner_id: str) -> tuple[int | None, int]:
        """(budget_micros or None when unlimited, spent_micros)."""
        owner = self.get(owner_id)
        if owner is None:
            raise OwnerNotFound(owner_id)
        return owner.budget_micros, owner.spent_micros

    def _by_name(self, name: str) -> Owner | None:
        with read_tx(self._engine) as conn:
            row = conn.execute(select(owners).where(owners.c.name == name)).mappings().first()
        return Owner.from_row(row) if row else None
