"""Many workers on one PostgreSQL: claims per second and claim latency of --loops
claim/heartbeat/finish loops, against one loop measured in the same run.

Each loop is a thread with its own `Store` (one connection, as each worker process has its
own pool) that runs the store calls of a worker's loop (worker/loop.py), with no model:
`queue.claim` → `queue.mark_running` → --heartbeats × `queue.heartbeat` (with a step) →
`queue.finish` (succeeded, with an output and a cost), until the queue is empty. The queue
is filled first by bulk SQL (bench/scale_fill.py) with --runs queued runs.

After each phase it checks, from the rows, that no run was claimed twice: every claim the
loops got is a distinct run, every run is `succeeded` with attempt 1 and exactly one
`queued -> dispatching` event. A failure exits with status 1.

With two cores, the loops' Python (one process, one GIL) and PostgreSQL share the CPU:
claims/s is a floor for what separate worker processes on other machines would reach.

Usage:

    .venv/bin/python bench/claim_fleet.py [--loops 64] [--runs 6400] [--heartbeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

from sqlalchemy import create_engine, func, select

from bench_processes import postgres_database
from pixelrun.runs import RunStatus
from pixelrun.store import Store
from pixelrun.store.db.database import create_engine_for
from pixelrun.store.tables import run_events, runs
from scale_fill import MODEL_ID, FillPlan, fill
from throughput_load import percentile

DEFAULT_PG_ADMIN_URL = os.environ.get(
    "PIXELRUN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
LEASE_SECONDS = 30.0
# The owner's debit in micro-dollars, as a worker's finish makes it.
DEBIT = {"cost_micros": 123}
OUTPUT = {"outputs": [{"type": "image", "content_type": "image/png", "width": 64, "height": 64}]}


@dataclass
class Phase:
    loops: int
    runs: int
    seconds: float = 0.0
    claims: int = 0
    claims_per_s: float = 0.0
    claim_p50_ms: float | None = None
    claim_p99_ms: float | None = None
    cycle_p50_ms: float | None = None
    cycle_p99_ms: float | None = None
    errors: list[str] = field(default_factory=list)
    claimed_twice: int = 0
    not_succeeded: int = 0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_phase(url: str, owner_id: str, loops: int, count: int, heartbeats: int) -> Phase:
    phase = Phase(loops, count)
    engine = create_engine(url)
    try:
        fill(engine, FillPlan(runs=0, queued=count, owner_id=owner_id), log=lambda _m: None)
    finally:
        engine.dispose()
    stores = [Store(engine=create_engine_for(url, pool_size=1, max_overflow=0)) for _ in range(loops)]
    claimed: list[str] = []
    claim_seconds: list[float] = []
    cycle_seconds: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(loops + 1)

    def loop(index: int, store: Store) -> None:
        worker_id = f"fleet-{loops}-{index}"
        mine: list[str] = []
        claims: list[float] = []
        cycles: list[float] = []
        try:
            store.ping()  # connect before the clock starts
            start.wait()
            while True:
                began = time.perf_counter()
                run = store.queue.claim(worker_id, [MODEL_ID], LEASE_SECONDS)
                claimed_at = time.perf_counter()
                if run is None:
                    break
                claims.append(claimed_at - began)
                mine.append(run.id)
                store.queue.mark_running(run.id, run.attempt, worker_id)
                for step in range(1, heartbeats + 1):
                    store.queue.heartbeat(run.id, run.attempt, worker_id, LEASE_SECONDS, step, heartbeats)
                store.queue.finish(
                    run.id,
                    run.attempt,
                    worker_id,
                    RunStatus.SUCCEEDED,
                    output=OUTPUT,
                    cost="0.000123",
                    **DEBIT,
                )
                cycles.append(time.perf_counter() - began)
        except Exception as exc:  # reported, and the phase fails
            with lock:
                phase.errors.append(f"loop {index}: {exc!r}")
        finally:
            with lock:
                claimed.extend(mine)
                claim_seconds.extend(claims)
                cycle_seconds.extend(cycles)

    threads = [threading.Thread(target=loop, args=(i, s), name=f"fleet-{i}") for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    phase.seconds = time.perf_counter() - began
    for store in stores:
        store.close()

    phase.claims = len(claimed)
    phase.claims_per_s = phase.claims / phase.seconds if phase.seconds else 0.0
    phase.claimed_twice = sum(1 for n in Counter(claimed).values() if n > 1)
    for name, values in (("claim", claim_seconds), ("cycle", cycle_seconds)):
        for q in (50, 99):
            value = percentile(values, q)
            setattr(phase, f"{name}_p{q}_ms", None if value is None else value * 1000)
    phase.not_succeeded = _check_rows(url, claimed)
    return phase


def _check_rows(url: str, claimed: list[str]) -> int:
    """Runs of this phase that are not succeeded once, after exactly one claim."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(runs.c.id, runs.c.status, runs.c.attempt).where(runs.c.id.in_(claimed))
            ).all()
            claims_per_run = dict(
                conn.execute(
                    select(run_events.c.run_id, func.count())
                    .where(run_events.c.run_id.in_(claimed), run_events.c.to_status == "dispatching")
                    .group_by(run_events.c.run_id)
                ).all()
            )
            left = conn.execute(
                select(func.count()).select_from(runs).where(runs.c.status == "queued")
            ).scalar_one()
    finally:
        engine.dispose()
    bad = sum(1 for r in rows if r.status != "succeeded" or r.attempt != 1 or claims_per_run.get(r.id) != 1)
    return bad + (len(set(claimed)) - len(rows)) + left


def print_table(phases: list[Phase]) -> None:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    base = phases[0]
    print(
        "| loops | runs | claims | wall s | claims/s | x 1 loop | claim p50 ms | claim p99 ms | cycle p50 ms | cycle p99 ms | claimed twice | wrong rows |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for p in phases:
        ratio = p.claims_per_s / base.claims_per_s if base.claims_per_s else 0.0
        print(
            f"| {p.loops} | {p.runs} | {p.claims} | {p.seconds:.1f} | {p.claims_per_s:.0f} | {ratio:.2f}x | "
            f"{ms(p.claim_p50_ms)} | {ms(p.claim_p99_ms)} | {ms(p.cycle_p50_ms)} | {ms(p.cycle_p99_ms)} | "
            f"{p.claimed_twice} | {p.not_succeeded} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--loops", type=int, default=64, help="concurrent claim loops (default 64)")
    parser.add_argument("--runs", type=int, default=6400, help="queued runs for the loops (default 6400)")
    parser.add_argument("--baseline-runs", type=int, default=500, help="queued runs for the 1-loop baseline")
    parser.add_argument("--heartbeats", type=int, default=3, help="heartbeats per run (default 3)")
    parser.add_argument(
        "--postgres-url", default=DEFAULT_PG_ADMIN_URL, help="admin URL of the PostgreSQL server"
    )
    parser.add_argument("--json", help="also write every number to this JSON file")
    args = parser.parse_args(argv)
    if args.loops < 1 or args.runs < 1 or args.baseline_runs < 1:
        parser.error("--loops, --runs and --baseline-runs must be >= 1")
    load_before = os.getloadavg()[0]
    phases: list[Phase] = []
    with postgres_database(args.postgres_url) as url:
        store = Store(url)
        store.migrate()
        owner = store.owners.ensure("claim-fleet")
        store.close()
        for loops, count in ((1, args.baseline_runs), (args.loops, args.runs)):
            log(f"{loops} loop(s) over {count} queued runs ...")
            phases.append(run_phase(url, owner.id, loops, count, args.heartbeats))
    print_table(phases)
    print(
        f"machine: {os.cpu_count()} CPUs; 1-minute load average {load_before:.2f} at start, {os.getloadavg()[0]:.2f} at end"
    )
    for p in phases:
        for error in p.errors:
            print(f"error ({p.loops} loops): {error}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump([asdict(p) for p in phases], out, indent=2)
    failed = any(p.errors or p.claimed_twice or p.not_succeeded or p.claims != p.runs for p in phases)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
