"""The fair queue (docs/queue.md): turns among owners, statements inside open transactions.

Each (model, owner) with queued runs has a row in `owner_queues`: how many runs it has
queued, the round in which its oldest queued run is claimed (`next_round`) and its place
within a round (`turn`). A claim takes the owner whose (next_round, turn) is first, then that
owner's oldest queued run (by `runs.queue_ticket`), and moves the owner to the next round:
round-robin among owners, first-in first-out within an owner. So the owner's i-th queued run
(0-based) is claimed in round `next_round + i`, and a run's queue position is arithmetic on
these rows (`position`), not a count of the queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, Row, and_, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from pixelrun.runs import LEASED_STATUSES, RunStatus
from pixelrun.store.db.raw_statement import RawStatement
from pixelrun.store.tables import owner_queues, owners, runs

_QUEUED = RunStatus.QUEUED.value
_LEASED = [s.value for s in LEASED_STATUSES]
_NOT_QUEUED = [s.value for s in RunStatus if s is not RunStatus.QUEUED]
# As the partial index ix_owner_queues_waiting spells it: SQLite uses a partial index only
# for the same literal condition, not for a bound parameter.
_WAITING = text("owner_queues.queued_count > 0")
# Owners looked at per model and claim before falling back to the plain oldest-first pick.
_CANDIDATES = 8


def _turn(now: datetime) -> int:
    """A turn for an owner that (re)joins: later joiners go after earlier ones in a round."""
    return int(now.timestamp() * 1_000_000)


def _served_round(conn: Connection, model_id: str) -> int:
    """The round being served: the last claim's. Owners joining now join it (docs/queue.md#rounds)."""
    top = conn.execute(
        select(func.max(owner_queues.c.next_round)).where(owner_queues.c.model_id == model_id)
    ).scalar()
    return max(int(top) - 1, 0) if top is not None else 0


def _key(model_id: str, owner_id: str) -> Any:
    return and_(owner_queues.c.model_id == model_id, owner_queues.c.owner_id == owner_id)


def _rejoin(conn: Connection, model_id: str, owner_id: str, now: datetime) -> None:
    """The owner's queue was empty: it joins the round being served, after those in it."""
    served = _served_round(conn, model_id)
    conn.execute(
        update(owner_queues)
        .where(_key(model_id, owner_id), owner_queues.c.next_round < served)
        .values(next_round=served)
    )
    conn.execute(update(owner_queues).where(_key(model_id, owner_id)).values(turn=_turn(now)))


def enqueue(conn: Connection, model_id: str, owner_id: str, now: datetime) -> int:
    """Count a new queued run of this owner and model; its `queue_ticket`."""
    bump = (
        update(owner_queues)
        .where(_key(model_id, owner_id))
        .values(queued_count=owner_queues.c.queued_count + 1, last_ticket=owner_queues.c.last_ticket + 1)
        .returning(owner_queues.c.queued_count, owner_queues.c.last_ticket)
    )
    row = conn.execute(bump).first()
    if row is None:
        # The first run of this owner and model; ON CONFLICT: a concurrent first create won.
        served = _served_round(conn, model_id)
        values = {
            "model_id": model_id,
            "owner_id": owner_id,
            "queued_count": 1,
            "next_round": served,
            "turn": _turn(now),
            "last_ticket": 1,
        }
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        inserted = conn.execute(
            dialect_insert(owner_queues)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(owner_queues.c.last_ticket)
        ).first()
        if inserted is not None:
            return 1
        row = conn.execute(bump).one()
    if row.queued_count == 1:
        _rejoin(conn, model_id, owner_id, now)
    return int(row.last_ticket)


def requeued(conn: Connection, model_id: str, owner_id: str, now: datetime) -> None:
    """A claimed run went back to the queue (it keeps its ticket, so it is its owner's oldest)."""
    row = conn.execute(
        update(owner_queues)
        .where(_key(model_id, owner_id))
        .values(queued_count=owner_queues.c.queued_count + 1)
        .returning(owner_queues.c.queued_count)
    ).first()
    if row is not None and row.queued_count == 1:
        _rejoin(conn, model_id, owner_id, now)


def left_queue(conn: Connection, pairs: Iterable[tuple[str, str]]) -> None:
    """Queued runs of these (model, owner) were canceled: one less queued for each."""
    # Sorted: two transactions that both cancel never lock the same rows in opposite orders.
    for model_id, owner_id in sorted(pairs):
        conn.execute(
            update(owner_queues)
            .where(_key(model_id, owner_id), owner_queues.c.queued_count > 0)
            .values(queued_count=owner_queues.c.queued_count - 1)
        )


def claimed(conn: Connection, model_id: str, owner_id: str) -> None:
    """The owner's oldest queued run was claimed: one less queued, and its next turn is a round later."""
    conn.execute(
        update(owner_queues)
        .where(_key(model_id, owner_id), owner_queues.c.queued_count > 0)
        .values(queued_count=owner_queues.c.queued_count - 1, next_round=owner_queues.c.next_round + 1)
    )


def _owners_at_limit(max_active: int) -> Any:
    """Owners with `max_active` runs in progress (leased runs are few: at most one per worker)."""
    return (
        select(runs.c.owner_id)
        .where(runs.c.status.in_(_LEASED))
        .group_by(runs.c.owner_id)
        .having(func.count() >= max_active)
    )


def _active_count(conn: Connection, owner_id: str) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(runs)
            .where(runs.c.owner_id == owner_id, runs.c.status.in_(_LEASED))
        ).scalar_one()
    )


def _claimable(now: datetime) -> Any:
    return and_(
        runs.c.status == _QUEUED,
        or_(runs.c.deadline_at.is_(None), runs.c.deadline_at > now),
    )


def _head_of(conn: Connection, model_id: str, owner_id: str, now: datetime) -> Row[Any] | None:
    """The owner's oldest claimable run of the model, locked; None when all are taken."""
    return conn.execute(
        select(runs.c.id, runs.c.attempt, runs.c.model_id, runs.c.owner_id, runs.c.created_at)
        .where(runs.c.model_id == model_id, runs.c.owner_id == owner_id, _claimable(now))
        # Tickets are unique per (model, owner): the index gives this order, no sort.
        .order_by(runs.c.queue_ticket)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).first()


def _pick_in_model(
    conn: Connection, model_id: str, now: datetime, max_active: int | None, excluded: set[str]
) -> Row[Any] | None:
    query = (
        select(owner_queues.c.owner_id)
        .where(owner_queues.c.model_id == model_id, _WAITING)
        .order_by(owner_queues.c.next_round, owner_queues.c.turn, owner_queues.c.owner_id)
        .limit(_CANDIDATES + len(excluded))
    )
    if max_active is not None:
        query = query.where(owner_queues.c.owner_id.not_in(_owners_at_limit(max_active)))
    for (owner_id,) in conn.execute(query).all():
        if owner_id in excluded:
            continue
        head = _head_of(conn, model_id, owner_id, now)
        if head is not None:
            return head
    # Every candidate's runs are being claimed by others right now (SKIP LOCKED), or the rows
    # are behind: the oldest claimable run of an owner not at its limit.
    fallback = (
        select(runs.c.id, runs.c.attempt, runs.c.model_id, runs.c.owner_id, runs.c.created_at)
        .where(runs.c.model_id == model_id, _claimable(now))
        .order_by(runs.c.created_at, runs.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if excluded:
        fallback = fallback.where(runs.c.owner_id.not_in(sorted(excluded)))
    if max_active is not None:
        fallback = fallback.where(runs.c.owner_id.not_in(_owners_at_limit(max_active)))
    return conn.execute(fallback).first()


def pick(
    conn: Connection, model_ids: Sequence[str], now: datetime, max_active: int | None = None
) -> Row[Any] | None:
    """The run to claim, locked: per model, the head of the owner whose turn it is; across
    models, the one created first. With `max_active`, owners with that many runs in
    progress are passed over (docs/queue.md#runs-in-progress-per-key)."""
    excluded: set[str] = set()
    for _ in range(_CANDIDATES):
        heads = [h for m in sorted(model_ids) if (h := _pick_in_model(conn, m, now, max_active, excluded))]
        if not heads:
            return None
        head = min(heads, key=lambda h: (h.created_at, h.id))
        if max_active is None:
            return head
        # Concurrent claims of one owner both saw it under its limit: the owner's row lock
        # orders them, and the count after it sees the other's committed claim.
        conn.execute(select(owners.c.id).where(owners.c.id == head.owner_id).with_for_update()).first()
        if _active_count(conn, head.owner_id) < max_active:
            return head
        excluded.add(head.owner_id)
    return None


# The run's 1-based place in the claim order of its model (docs/queue.md#queue-position).
# `mine`: k, the run's rank among its owner's queued runs (its ticket minus its owner's head
# ticket, less the runs between them that are no longer queued), and r, the round in which it
# is claimed. Every other owner with queued runs has min(its queued, rounds before r) of them
# ahead, plus one if its turn in round r comes first. Cost: two index lookups and one row
# per owner with queued runs of the model, whatever the length of the queue.
_NOT_QUEUED_SQL = ", ".join(f"'{status}'" for status in _NOT_QUEUED)
_POSITION_SQL = f"""
WITH head AS MATERIALIZED (
    SELECT MIN(queue_ticket) AS ticket FROM runs
    WHERE model_id = :model_id AND owner_id = :owner_id AND status = '{_QUEUED}'
), ranked AS MATERIALIZED (
    SELECT oq.next_round AS next_round, oq.turn AS turn,
           :ticket - head.ticket + 1 - (
               SELECT COUNT(*) FROM runs x
               WHERE x.model_id = :model_id AND x.owner_id = :owner_id
                 AND x.status IN ({_NOT_QUEUED_SQL})
                 AND x.queue_ticket > head.ticket AND x.queue_ticket < :ticket
           ) AS k
    FROM owner_queues oq, head
    WHERE oq.model_id = :model_id AND oq.owner_id = :owner_id AND head.ticket <= :ticket
      AND EXISTS (SELECT 1 FROM runs y WHERE y.model_id = :model_id AND y.owner_id = :owner_id
                  AND y.status = '{_QUEUED}' AND y.queue_ticket = :ticket)
), mine AS MATERIALIZED (
    SELECT k, next_round + k - 1 AS r, turn FROM ranked
)
SELECT mine.k + COALESCE((
    SELECT SUM(
        CASE WHEN mine.r - q.next_round <= 0 THEN 0
             WHEN mine.r - q.next_round >= q.queued_count THEN q.queued_count
             ELSE mine.r - q.next_round END
        + CASE WHEN q.next_round <= mine.r AND mine.r < q.next_round + q.queued_count
                    AND (q.turn < mine.turn OR (q.turn = mine.turn AND q.owner_id < :owner_id))
               THEN 1 ELSE 0 END)
    FROM owner_queues q
    WHERE q.model_id = :model_id AND q.queued_count > 0 AND q.owner_id <> :owner_id
), 0) AS position
FROM mine
"""
POSITION = RawStatement(text(_POSITION_SQL).columns(position=BigInteger))


def position_params(row: dict[str, Any]) -> dict[str, Any] | None:
    """The parameters of `POSITION` for a run row; None when it has no ticket (not queued)."""
    if row.get("status") != _QUEUED or row.get("queue_ticket") is None:
        return None
    return {"model_id": row["model_id"], "owner_id": row["owner_id"], "ticket": int(row["queue_ticket"])}


def position(conn: Connection, row: dict[str, Any]) -> int | None:
    """The run's queue position (None once it left the queue)."""
    params = position_params(row)
    if params is None:
        return None
    found = POSITION.first(conn, params)
    if found is None or found[0] is None:
        return None
    return int(found[0]) or None
