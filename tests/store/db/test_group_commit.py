"""Group commit: writes that arrive together share one transaction, and fail alone."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, create_engine, select
from sqlalchemy.exc import IntegrityError

from pixelrun.store import IdempotencyConflict, InsufficientCredit, NewRun, Owner, Store
from pixelrun.store.db.group_commit import GroupCommit
from pixelrun.store.tables import idempotency_keys

from ..conftest import MODEL

_metadata = MetaData()
_items = Table("items", _metadata, Column("id", Integer, primary_key=True), Column("name", String))


class Refused(Exception):
    pass


class _Recorder:
    """An `apply` that inserts a row, records its transaction, and can be held at one item."""

    def __init__(self) -> None:
        self.hold_at: int | None = None
        self.holding = threading.Event()
        self.release = threading.Event()
        # The transaction objects themselves: kept alive, so that identity compares them.
        self.transactions: dict[int, Any] = {}

    def __call__(self, conn: Connection, item: tuple[int, str]) -> int:
        number, name = item
        if number == self.hold_at:
            self.holding.set()
            assert self.release.wait(10)
        if name == "refuse":
            raise Refused(number)
        conn.execute(_items.insert().values(id=number, name=name))
        self.transactions[number] = conn.get_transaction()
        return number


def _batched(recorder: _Recorder, commits: GroupCommit[Any, Any], items: list[tuple[int, str]]) -> list[Any]:
    """Submit `items` while the committer is held on item 0, so that they form one batch."""
    recorder.hold_at = 0
    with ThreadPoolExecutor(len(items) + 1) as pool:
        first = pool.submit(commits.submit, (0, "first"))
        assert recorder.holding.wait(10)
        futures = [pool.submit(commits.submit, item) for item in items]
        # Every item must be queued before the committer goes on.
        while commits._queue.qsize() < len(items):
            threading.Event().wait(0.01)
        recorder.release.set()
        assert first.result(10) == 0
        outcomes: list[Any] = []
        for future in futures:
            try:
                outcomes.append(future.result(10))
            except Exception as error:
                outcomes.append(error)
        return outcomes


@pytest.fixture
def engine(tmp_path: Any) -> Any:
    engine = create_engine(f"sqlite:///{tmp_path / 'items.db'}")
    _metadata.create_all(engine)
    yield engine
    engine.dispose()


def _rows(engine: Any) -> list[int]:
    with engine.connect() as conn:
        return sorted(row.id for row in conn.execute(select(_items)))


def test_writes_that_arrive_together_share_one_transaction(engine: Any) -> None:
    recorder = _Recorder()
    commits: GroupCommit[Any, Any] = GroupCommit(engine, recorder, expected=(Refused,), name="test")
    try:
        outcomes = _batched(recorder, commits, [(number, "x") for number in range(1, 6)])
    finally:
        commits.close()
    assert outcomes == [1, 2, 3, 4, 5]
    assert all(recorder.transactions[number] is recorder.transactions[1] for number in range(2, 6))
    assert _rows(engine) == [0, 1, 2, 3, 4, 5]


def test_an_expected_error_fails_its_write_alone(engine: Any) -> None:
    recorder = _Recorder()
    commits: GroupCommit[Any, Any] = GroupCommit(engine, recorder, expected=(Refused,), name="test")
    try:
        outcomes = _batched(recorder, commits, [(1, "x"), (2, "refuse"), (3, "x")])
    finally:
        commits.close()
    assert outcomes[0] == 1 and outcomes[2] == 3
    assert isinstance(outcomes[1], Refused)
    # The neighbours were committed in the same transaction as each other.
    assert recorder.transactions[1] is recorder.transactions[3]
    assert _rows(engine) == [0, 1, 3]


def test_an_unexpected_error_rolls_back_the_batch_and_each_write_goes_alone(engine: Any) -> None:
    recorder = _Recorder()
    commits: GroupCommit[Any, Any] = GroupCommit(engine, recorder, expected=(Refused,), name="test")
    try:
        # Item 2 collides with item 1's primary key: an IntegrityError only for it.
        outcomes = _batched(recorder, commits, [(1, "x"), (1, "duplicate"), (3, "x")])
    finally:
        commits.close()
    assert outcomes[0] == 1 and outcomes[2] == 3
    assert isinstance(outcomes[1], IntegrityError)
    assert recorder.transactions[1] is not recorder.transactions[3]  # retried alone
    assert _rows(engine) == [0, 1, 3]


def test_close_finishes_what_was_submitted(engine: Any) -> None:
    recorder = _Recorder()
    commits: GroupCommit[Any, Any] = GroupCommit(engine, recorder, expected=(Refused,), name="test")
    assert commits.submit((7, "x")) == 7
    commits.close()
    commits.close()  # idempotent
    assert _rows(engine) == [7]


# The run create path on the real store, both back ends.


def _new_run(owner: Owner) -> NewRun:
    return NewRun(owner_id=owner.id, model_id=MODEL, input={"prompt": "p", "image_urls": ["https://e/a.png"]})


def test_concurrent_creates_in_batches_refuse_only_what_must_be_refused(store: Store) -> None:
    rich = store.owners.ensure("rich")
    poor = store.owners.ensure("poor", budget_micros=1)
    requests = [(rich, None), (poor, "poor-key"), (rich, "k1"), (rich, "k1"), (poor, None), (rich, "k2")]

    def create(owner_and_key: tuple[Owner, str | None]) -> Any:
        owner, key = owner_and_key
        try:
            return store.runs.create(_new_run(owner), key=key, request_digest="d", estimated_micros=5)
        except InsufficientCredit as error:
            return error

    with ThreadPoolExecutor(len(requests)) as pool:
        outcomes = list(pool.map(create, requests * 5))
    refused = [outcome for outcome in outcomes if isinstance(outcome, InsufficientCredit)]
    created = [outcome for outcome in outcomes if not isinstance(outcome, InsufficientCredit)]
    assert len(refused) == 10  # every create of the owner without credit
    # One run per key (k1 and k2) plus the five key-less creates of `rich`.
    assert len({outcome.run.id for outcome in created}) == 7
    assert sum(not outcome.replayed for outcome in created) == 7
    # Nothing is remembered for the refused keyed create: no key row, and once the owner
    # has credit the same key makes a run.
    with store.engine.connect() as conn:
        keys = {row.key for row in conn.execute(select(idempotency_keys))}
    assert keys == {"k1", "k2"}
    store.owners.set_budget(poor.id, None)
    again = store.runs.create(_new_run(poor), key="poor-key", request_digest="d")
    assert not again.replayed


def test_a_conflicting_key_in_a_batch_fails_alone(store: Store, owner: Owner) -> None:
    store.runs.create(_new_run(owner), key="used", request_digest="first")

    def create(digest: str) -> Any:
        try:
            return store.runs.create(_new_run(owner), key="used", request_digest=digest)
        except IdempotencyConflict as error:
            return error

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(create, ["first", "other"] * 8))
    assert all(outcome.replayed for outcome in outcomes[::2])
    assert all(isinstance(outcome, IdempotencyConflict) for outcome in outcomes[1::2])


def test_a_write_whose_caller_gave_up_is_dropped_and_the_committer_goes_on(engine: Any) -> None:
    recorder = _Recorder()
    recorder.hold_at = 0
    commits: GroupCommit[Any, Any] = GroupCommit(engine, recorder, expected=(Refused,), name="test")
    try:
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(commits.submit, (0, "first"))
            assert recorder.holding.wait(10)
            given_up = commits.submit_future((1, "x"))
            assert given_up.cancel()  # like asyncio.wrap_future when the request is canceled
            kept = commits.submit_future((2, "x"))
            recorder.release.set()
            assert first.result(10) == 0
            assert kept.result(10) == 2
        assert commits.submit((3, "x")) == 3  # the committer is still alive
    finally:
        commits.close()
    assert _rows(engine) == [0, 2, 3]
