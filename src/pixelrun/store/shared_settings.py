"""`store.shared_settings`: values every process of a deployment must agree on.

Written once, by whichever process needs the value first (insert-if-absent, so two
processes racing both end up with the winner's value), and read by all others.
"""

from __future__ import annotations

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from pixelrun.runs import utc_now
from pixelrun.store.db.database import read_tx, write_tx
from pixelrun.store.tables import runs, shared_settings


class SharedSettingsRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, name: str) -> str | None:
        with read_tx(self._engine) as conn:
            return conn.execute(
                select(shared_settings.c.value).where(shared_settings.c.name == name)
            ).scalar_one_or_none()

    def get_or_set(self, name: str, value: str) -> str:
        """The stored value of `name`, storing `value` first when there is none."""
        existing = self.get(name)
        if existing is not None:
            return existing
        try:
            with write_tx(self._engine) as conn:
                conn.execute(insert(shared_settings).values(name=name, value=value, created_at=utc_now()))
        except IntegrityError:
            pass  # another process stored it first: use theirs
        stored = self.get(name)
        if stored is None:  # pragma: no cover - the row cannot vanish between the two statements
            raise RuntimeError(f"shared setting {name!r} could not be stored")
        return stored

    def deployment_has_runs(self) -> bool:
        """Whether any run exists: then URLs may have been handed out already, and a shared
        value that is missing must not be invented on the spot."""
        with read_tx(self._engine) as conn:
            return conn.execute(select(runs.c.id).limit(1)).first() is not None
