"""Reads for the hot path of polling clients: a run and its queue position in one query.

`GET /v1/runs/{id}` is what a waiting client sends over and over. Reading the run and then
counting the runs ahead of it took two transactions; one statement with a correlated
count (evaluated only while the run is queued) does both.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, and_, bindparam, case, func, or_, select

from pixelrun.runs import RunStatus
from pixelrun.store.database import single_read
from pixelrun.store.raw_statement import RawStatement
from pixelrun.store.records import RunRecord
from pixelrun.store.tables import runs

_QUEUED = RunStatus.QUEUED.value


def _position_of_outer_run() -> object:
    ahead = runs.alias("ahead")
    return (
        select(func.count())
        .select_from(ahead)
        .where(
            ahead.c.status == _QUEUED,
            ahead.c.model_id == runs.c.model_id,
            or_(
                ahead.c.created_at < runs.c.created_at,
                and_(ahead.c.created_at == runs.c.created_at, ahead.c.id <= runs.c.id),
            ),
        )
        .scalar_subquery()
    )


class RunReads:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        position = case((runs.c.status == _QUEUED, _position_of_outer_run()), else_=None)
        # Built once, with bound parameters (building per call cost more than running it).
        by_id = select(runs, position.label("queue_position")).where(runs.c.id == bindparam("run_id"))
        self._by_id = RawStatement(by_id)
        self._by_id_and_owner = RawStatement(by_id.where(runs.c.owner_id == bindparam("owner_id")))

    def statement_for(self, run_id: str, owner_id: str | None) -> tuple[RawStatement, dict[str, str]]:
        """The prebuilt read and its parameters (`loop_reads` runs the same statement)."""
        if owner_id is None:
            return self._by_id, {"run_id": run_id}
        return self._by_id_and_owner, {"run_id": run_id, "owner_id": owner_id}

    def get_with_position(
        self, run_id: str, owner_id: str | None = None
    ) -> tuple[RunRecord, int | None] | None:
        """(the run, its 1-based place among its model's queued runs or None), or None when unknown."""
        query, params = self.statement_for(run_id, owner_id)
        with single_read(self.engine) as conn:
            return position_from_row(query.first_mapping(conn, params))


def position_from_row(row: dict[str, Any] | None) -> tuple[RunRecord, int | None] | None:
    """The run and its queue position from a row of the read above."""
    if row is None:
        return None
    position = row["queue_position"]
    record = RunRecord.from_row(row)  # type: ignore[arg-type]
    return record, (int(position) or None) if position is not None else None
