"""The `/metrics` aggregates (store/metric_totals.py): every way a run becomes terminal and
every callback attempt is counted, exactly, in the transaction that makes it; a fresh
collector (a restarted replica) reads the same totals; the migration's backfill gives the
totals the rows give; concurrent finishes on PostgreSQL lose nothing."""

from __future__ import annotations

import threading
from datetime import timedelta

from alembic import command
from alembic.script import ScriptDirectory
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import delete, func, select, update

from metrics_rows import Samples, assert_figures_match_rows, covered, parse
from pixelrun.api.metrics import StoreCollector
from pixelrun.runs import RunStatus, utc_now
from pixelrun.store import NewRun, Store
from pixelrun.store.db.migrate import alembic_config, migrate
from pixelrun.store.tables import metric_totals, runs

from .conftest import MODEL

OTHER = "alibaba/qwen-image-edit-2511-lightning"
OUTPUT = {"timing": {"inference_ms": 1500, "queue_ms": 20}, "model_data": {"transformer_forwards": 7}}


def scrape(store: Store) -> Samples:
    """A scrape by a fresh collector: what a restarted or another replica reads first."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store))
    return parse(generate_latest(registry).decode())


def finish(
    store: Store, status: RunStatus, output: dict | None = None, code: str | None = None, model: str = MODEL
) -> str:
    run = store.queue.claim("w1", [model], 30)
    assert run is not None
    store.queue.mark_running(run.id, run.attempt, "w1")
    assert store.queue.finish(run.id, run.attempt, "w1", status, output=output, failure_code=code)
    return run.id


def every_way_to_end(store: Store) -> None:
    """Runs that end by each path (finish, cancel, deadline, lost lease), callback attempts
    of each outcome, and runs left queued and running."""
    owner = store.owners.ensure("metrics")

    def create(model: str = MODEL, **kwargs: object) -> str:
        return store.runs.create(NewRun(owner.id, model, {"prompt": "x"}, **kwargs)).run.id  # type: ignore[arg-type]

    for _ in range(3):
        create(callback_url="https://example.com/hook")
    finish(store, RunStatus.SUCCEEDED, OUTPUT)
    finish(store, RunStatus.FAILED, code="inference_failed")
    finish(store, RunStatus.CANCELED)
    create(OTHER)
    finish(store, RunStatus.SUCCEEDED, {"timing": {"total_ms": 40_000}}, model=OTHER)
    store.runs.cancel(create(), owner.id)  # queued, canceled by its owner
    create(deadline_at=utc_now() + timedelta(hours=1))
    with store.engine.begin() as conn:  # its deadline passes
        conn.execute(update(runs).where(runs.c.deadline_at.is_not(None)).values(deadline_at=utc_now()))
    assert len(store.deadlines.expire()) == 1
    create(max_attempts=1)
    lost = store.queue.claim("w2", [MODEL], 0.001)
    assert lost is not None
    assert store.queue.reap_expired(utc_now() + timedelta(seconds=5)) == [lost.id]
    # Callback attempts: one delivery succeeds, one needs a retry then succeeds, one fails.
    deliveries = store.callbacks.claim_due("cb", 30)
    assert len(deliveries) == 3
    second = {deliveries[1].id: "succeeded", deliveries[2].id: "failed"}
    for number, plan in (
        (1, dict.fromkeys(second, "pending") | {deliveries[0].id: "succeeded"}),
        (2, second),
    ):
        if number == 2:
            due = store.callbacks.claim_due("cb", 30, now=utc_now() + timedelta(hours=1))
            assert {d.id for d in due} == set(second)
        for delivery_id, outcome in plan.items():
            assert store.callbacks.record_attempt(
                delivery_id,
                "cb",
                number,
                status_code=200 if outcome == "succeeded" else 500,
                response_time_ms=3,
                error_message=None,
                webhook_timestamp=1,
                outcome=outcome,
                retry_at=utc_now() if outcome == "pending" else None,
            )
    create()
    create()
    running = store.queue.claim("w3", [MODEL], 30)
    assert running is not None and store.queue.mark_running(running.id, running.attempt, "w3")


def test_every_figure_equals_the_rows(store: Store) -> None:
    every_way_to_end(store)
    samples = scrape(store)
    assert_figures_match_rows(samples, store.engine)
    created = ("pixelrun_runs_created_total", frozenset({("model", MODEL)}))
    assert samples[created] == 8
    finished_codes = {
        dict(labels)["failure_code"]
        for name, labels in samples
        if name == "pixelrun_runs_finished_total" and dict(labels)["model"] == MODEL
    }
    assert finished_codes == {"", "inference_failed", "deadline_exceeded", "worker_lost"}
    attempts = {
        (dict(labels)["outcome"], dict(labels)["attempt"]): value
        for (name, labels), value in samples.items()
        if name == "pixelrun_callback_delivery_attempts_total"
    }
    assert attempts == {("succeeded", "1"): 1, ("retried", "1"): 2, ("succeeded", "2"): 1, ("failed", "2"): 1}
    inference = frozenset({("model", MODEL), ("stage", "inference")})
    assert samples[("pixelrun_run_stage_duration_seconds_sum", inference)] == 1.5
    assert samples[("pixelrun_run_stage_duration_seconds_bucket", inference | {("le", "1.0")})] == 0
    assert samples[("pixelrun_run_stage_duration_seconds_bucket", inference | {("le", "2.5")})] == 1
    assert samples[("pixelrun_transformer_passes_total", frozenset({("model", MODEL)}))] == 7
    assert samples[("pixelrun_queue_depth", frozenset({("model", MODEL)}))] == 1
    assert samples[("pixelrun_queue_depth", frozenset({("model", OTHER)}))] == 0
    # Another replica, or this one restarted, reads the same totals at its first scrape.
    assert covered(scrape(store)) == covered(samples)


def test_no_scrape_reads_the_history(store: Store) -> None:
    """The figures come from the aggregate rows: with them emptied, terminal runs vanish
    from the counters, however many rows `runs` holds (what a scan would have counted)."""
    every_way_to_end(store)
    with store.engine.begin() as conn:
        conn.execute(delete(metric_totals))
    samples = scrape(store)
    assert not [key for key in covered(samples) if key[0] == "pixelrun_runs_finished_total"]
    # Created = live runs only now: the queued one and the running one.
    assert samples[("pixelrun_runs_created_total", frozenset({("model", MODEL)}))] == 2


def test_the_migration_backfills_the_totals(store: Store) -> None:
    every_way_to_end(store)
    before = covered(scrape(store))
    with store.engine.begin() as conn:
        conn.execute(delete(metric_totals))
    config = alembic_config()
    before_totals = ScriptDirectory.from_config(config).get_revision("0015").down_revision
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, before_totals)
    migrate(store.engine)
    after = scrape(store)
    assert_figures_match_rows(after, store.engine)
    assert covered(after) == before


def test_concurrent_finishes_lose_nothing(pg_store: Store) -> None:
    """Workers finishing runs of one model at once upsert the same rows: every finish counts."""
    store = pg_store
    owner = store.owners.ensure("metrics")
    threads_n, per_thread = 8, 6
    for _ in range(threads_n * per_thread):
        store.runs.create(NewRun(owner.id, MODEL, {"prompt": "x"}))
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads_n)

    def work(index: int) -> None:
        try:
            barrier.wait()
            for _ in range(per_thread):
                run = store.queue.claim(f"w{index}", [MODEL], 30)
                assert run is not None
                store.queue.finish(run.id, run.attempt, f"w{index}", RunStatus.SUCCEEDED, output=OUTPUT)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    samples = scrape(store)
    assert_figures_match_rows(samples, store.engine)
    labels = frozenset({("model", MODEL), ("status", "succeeded"), ("failure_code", "")})
    assert samples[("pixelrun_runs_finished_total", labels)] == threads_n * per_thread
    with store.engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(metric_totals)).scalar_one()
    assert rows <= 4 * 10  # label sets × buckets × shards, not runs


def test_transactions_ending_many_runs_do_not_deadlock(pg_store: Store) -> None:
    """Deadline passes of several replicas at once each cancel a batch of runs (in one
    transaction) whose totals rows overlap in every order: the upserts, made last and in
    key order, queue instead of deadlocking."""
    store = pg_store
    owner = store.owners.ensure("metrics")
    soon = utc_now() + timedelta(hours=1)
    for index in range(240):
        model = MODEL if index % 2 else OTHER
        store.runs.create(NewRun(owner.id, model, {"prompt": "x"}, deadline_at=soon))
    with store.engine.begin() as conn:
        conn.execute(update(runs).values(deadline_at=utc_now()))
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work() -> None:
        try:
            barrier.wait()
            while store.deadlines.expire():
                pass
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert_figures_match_rows(scrape(store), store.engine)
