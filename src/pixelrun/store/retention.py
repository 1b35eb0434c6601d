"""`store.retention`: what the retention janitor reads and writes, and the lease that lets
one API replica at a time run it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from pixelrun.runs import TERMINAL_STATUSES, utc_now
from pixelrun.store.db.database import read_tx, write_tx
from pixelrun.store.records import RunFiles
from pixelrun.store.tables import callback_attempts, maintenance_leases, runs


class RetentionRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def try_lease(self, name: str, holder: str, seconds: float, now: datetime | None = None) -> bool:
        """Take (or renew) the named lease for `seconds`; False while another holder has it."""
        now = now or utc_now()
        expires = now + timedelta(seconds=seconds)
        with write_tx(self._engine) as conn:
            taken = conn.execute(
                update(maintenance_leases)
                .where(
                    maintenance_leases.c.name == name,
                    or_(maintenance_leases.c.expires_at < now, maintenance_leases.c.holder == holder),
                )
                .values(holder=holder, expires_at=expires)
            ).rowcount
        if taken:
            return True
        try:
            with write_tx(self._engine) as conn:
                conn.execute(insert(maintenance_leases).values(name=name, holder=holder, expires_at=expires))
        except IntegrityError:
            return False  # the row exists and is held by someone else
        return True

    def release_lease(self, name: str, holder: str) -> None:
        with write_tx(self._engine) as conn:
            conn.execute(
                delete(maintenance_leases).where(
                    maintenance_leases.c.name == name, maintenance_leases.c.holder == holder
                )
            )

    def runs_with_files(self, completed_before: datetime, limit: int = 100) -> list[RunFiles]:
        """Terminal runs completed before the cutoff whose files have not been deleted yet."""
        query = (
            select(runs.c.id, runs.c.output)
            .where(
                and_(
                    runs.c.files_expired_at.is_(None),
                    runs.c.completed_at < completed_before,
                    runs.c.status.in_([status.value for status in TERMINAL_STATUSES]),
                )
            )
            .order_by(runs.c.completed_at)
            .limit(limit)
        )
        with read_tx(self._engine) as conn:
            return [RunFiles(row.id, row.output) for row in conn.execute(query)]

    def mark_files_expired(self, run_id: str, output: dict[str, Any] | None) -> None:
        """Record that the run's files are gone, with its output rewritten to say so."""
        with write_tx(self._engine) as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id, runs.c.files_expired_at.is_(None))
                .values(output=output, files_expired_at=utc_now())
            )

    def delete_callback_attempts(self, created_before: datetime) -> int:
        with write_tx(self._engine) as conn:
            return int(
                conn.execute(
                    delete(callback_attempts).where(callback_attempts.c.created_at < created_before)
                ).rowcount
            )
