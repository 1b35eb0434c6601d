"""`store.runs`: runs as the API sees them: create (idempotent, with the credit check),
read, read with the queue position, list, cancel."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Select, bindparam, delete, or_, select, update

from pixelrun.runs import RunStatus, utc_now
from pixelrun.store import fair_queue
from pixelrun.store.db.cursor import decode_cursor, encode_cursor
from pixelrun.store.db.database import read_tx, single_read, write_tx
from pixelrun.store.db.group_commit import GroupCommit
from pixelrun.store.db.raw_statement import RawStatement
from pixelrun.store.errors import IdempotencyConflict, InsufficientCredit, OwnerNotFound, RunNotFound
from pixelrun.store.events import record_event
from pixelrun.store.idempotency import KEY_LIFETIME, MAX_KEY_LENGTH, CreateRequest, create_in_tx
from pixelrun.store.outbox import enqueue_if_callback
from pixelrun.store.records import Created, NewRun, RunRecord
from pixelrun.store.runs_tx import ZERO_COST, fetch_run, queue_position_in_tx
from pixelrun.store.tables import idempotency_keys, runs

if TYPE_CHECKING:
    from pixelrun.store.db.loop_reads import LoopReads

_QUEUED = RunStatus.QUEUED.value


class RunsRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # Concurrent creates share transactions (db/group_commit.py); their expected errors
        # leave nothing written, so they fail alone.
        self._commits: GroupCommit[CreateRequest, Created] = GroupCommit(
            engine,
            create_in_tx,
            expected=(InsufficientCredit, OwnerNotFound, IdempotencyConflict),
            name="run-creates",
        )
        # The polling read: the run, then for a queued run its position (store/fair_queue.py),
        # both built once with bound parameters (building one per call cost more than running it).
        by_id = select(runs).where(runs.c.id == bindparam("run_id"))
        self._by_id = RawStatement(by_id)
        self._by_id_and_owner = RawStatement(by_id.where(runs.c.owner_id == bindparam("owner_id")))

    def close(self) -> None:
        self._commits.close()

    # ---- create ----

    def create(
        self,
        new_run: NewRun,
        *,
        key: str | None = None,
        request_digest: str = "",
        status_code: int = 201,
        estimated_micros: int = 0,
    ) -> Created:
        """The run created under `key`, or the one an earlier identical request created.

        `key=None` is a plain create. Either way the run's queue position is read in the
        same transaction (the API shows it; a second transaction cost more than the count).
        Raises `IdempotencyConflict` when the key was used for a different request, and
        `InsufficientCredit` when the owner's budget is short (nothing is remembered then).
        """
        return self.create_future(
            new_run,
            key=key,
            request_digest=request_digest,
            status_code=status_code,
            estimated_micros=estimated_micros,
        ).result()

    def create_future(
        self,
        new_run: NewRun,
        *,
        key: str | None = None,
        request_digest: str = "",
        status_code: int = 201,
        estimated_micros: int = 0,
    ) -> Future[Created]:
        """`create` without waiting: its outcome as a future (the API awaits it on its loop)."""
        if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise ValueError(f"an idempotency key has 1 to {MAX_KEY_LENGTH} characters")
        return self._commits.submit_future(
            CreateRequest(new_run, key, request_digest, status_code, estimated_micros)
        )

    def purge_expired_keys(self, now: datetime | None = None) -> int:
        """Delete idempotency keys past their lifetime (they no longer protect anything); how many."""
        cutoff = (now or utc_now()) - KEY_LIFETIME
        with write_tx(self._engine) as conn:
            result = conn.execute(delete(idempotency_keys).where(idempotency_keys.c.created_at < cutoff))
        return result.rowcount

    # ---- read ----

    def get(self, run_id: str, owner_id: str | None = None) -> RunRecord | None:
        """The run, or None; with `owner_id`, another owner's run is None too."""
        try:
            with read_tx(self._engine) as conn:
                return fetch_run(conn, run_id, owner_id)
        except RunNotFound:
            return None

    def get_with_position(
        self, run_id: str, owner_id: str | None = None
    ) -> tuple[RunRecord, int | None] | None:
        """(the run, its 1-based place among its model's queued runs or None), or None when unknown."""
        query, params = self._read_statement(run_id, owner_id)
        with single_read(self._engine) as conn:
            row = query.first_mapping(conn, params)
            if row is None:
                return None
            position_params = fair_queue.position_params(row)
            found = fair_queue.POSITION.first(conn, position_params) if position_params else None
        return _with_position(row, found)

    async def get_with_position_on_loop(
        self, reads: LoopReads, run_id: str, owner_id: str | None = None
    ) -> tuple[RunRecord, int | None] | None:
        """`get_with_position` awaited on the event loop (store/db/loop_reads.py says why)."""
        query, params = self._read_statement(run_id, owner_id)
        row = await reads.first_mapping(query, params)
        if row is None:
            return None
        position_params = fair_queue.position_params(row)
        found = await reads.first_mapping(fair_queue.POSITION, position_params) if position_params else None
        return _with_position(row, tuple(found.values()) if found else None)

    def queue_position(self, run: RunRecord) -> int | None:
        """1-based place of a queued run among the queued runs of its model (claim order)."""
        if run.status is not RunStatus.QUEUED:
            return None
        with read_tx(self._engine) as conn:
            return queue_position_in_tx(conn, run)

    def queue_positions(self, records: list[RunRecord]) -> dict[str, int | None]:
        """The positions of the queued runs among `records` (a list page), read in one
        transaction instead of one each; runs not queued are left out."""
        queued = [run for run in records if run.status is RunStatus.QUEUED]
        if not queued:
            return {}
        with read_tx(self._engine) as conn:
            return {run.id: queue_position_in_tx(conn, run) for run in queued}

    def page(
        self,
        owner_id: str,
        limit: int = 50,
        cursor: str | None = None,
        status: RunStatus | str | None = None,
        model_id: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
    ) -> tuple[list[RunRecord], str | None]:
        """The owner's runs, newest first, and the cursor of the next page (None on the last)."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        query = page_query(owner_id, limit + 1, cursor, status, model_id, created_after, created_before)
        with read_tx(self._engine) as conn:
            records = [RunRecord.from_row(r) for r in conn.execute(query).mappings()]
        if len(records) <= limit:
            return records, None
        page = records[:limit]
        return page, encode_cursor(page[-1].created_at, page[-1].id)

    def _read_statement(self, run_id: str, owner_id: str | None) -> tuple[RawStatement, dict[str, str]]:
        if owner_id is None:
            return self._by_id, {"run_id": run_id}
        return self._by_id_and_owner, {"run_id": run_id, "owner_id": owner_id}

    # ---- cancel ----

    def cancel(self, run_id: str, owner_id: str) -> tuple[RunRecord, bool]:
        """Cancel a run of this owner: (the run, whether this call changed it).

        A non-terminal run becomes `canceled` at once; its worker learns it from the next
        heartbeat (no longer owned, status canceled) and any later result is fenced out.
        Raises `RunNotFound` for an unknown run or another owner's.
        """
        now = utc_now()
        with write_tx(self._engine) as conn:
            run = fetch_run(conn, run_id, owner_id, lock=True)
            if run.is_terminal:
                return run, False
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(
                    status=RunStatus.CANCELED.value,
                    completed_at=now,
                    cancel_requested=True,
                    cost=ZERO_COST,
                    cost_breakdown=[],
                    lease_expires_at=None,
                    progress_step=None,
                    progress_steps=None,
                )
            )
            if run.status is RunStatus.QUEUED:
                fair_queue.left_queue(conn, [(run.model_id, run.owner_id)])
            record_event(
                conn,
                run_id,
                run.status,
                RunStatus.CANCELED,
                run.attempt,
                now,
                {"reason": "user_request"},
                run=run,
            )
            enqueue_if_callback(conn, run_id, run.owner_id, run.callback_url, now, run.callback_events)
            return fetch_run(conn, run_id), True


def page_query(
    owner_id: str,
    limit: int,
    cursor: str | None = None,
    status: RunStatus | str | None = None,
    model_id: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> Select[Any]:
    """Up to `limit` of the owner's runs, newest first, after the cursor's run.

    Keyset order is (created_at, id), which `ix_runs_owner_created_id` holds per owner: a
    page at any depth reads about `limit` index entries (docs/operations.md#scale).
    """
    query = select(runs).where(runs.c.owner_id == owner_id)
    if status is not None:
        query = query.where(runs.c.status == RunStatus(status).value)
    if model_id is not None:
        query = query.where(runs.c.model_id == model_id)
    if created_after is not None:
        query = query.where(runs.c.created_at > created_after)
    if created_before is not None:
        query = query.where(runs.c.created_at < created_before)
    if cursor is not None:
        created_at, last_id = decode_cursor(cursor)
        # `created_at <= x` alone bounds the index range on both back ends; the OR form
        # only (without it) made PostgreSQL walk the owner's index from the newest run.
        query = query.where(
            runs.c.created_at <= created_at,
            or_(runs.c.created_at < created_at, runs.c.id < last_id),
        )
    return query.order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(limit)


def _with_position(row: dict[str, Any], found: tuple[Any, ...] | None) -> tuple[RunRecord, int | None]:
    """The run and its queue position from the rows of the polling read."""
    record = RunRecord.from_row(row)  # type: ignore[arg-type]
    position = found[0] if found else None
    return record, (int(position) or None) if position is not None else None
