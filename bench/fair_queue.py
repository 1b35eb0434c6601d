"""Fair queues: how long another owner's run waits behind one owner's backlog, and what the
polling read of a queued run costs with that backlog.

Owner A queues Q runs of the model (through the store's create, as the API does); a worker
claims A's first; then owner B queues one run. Measured on a fresh store per version:

- claims before B's run: how many runs the workers take before B's (claiming and finishing
  runs one by one as a worker would), and that count times `--run-seconds` as B's wait;
- the polling read (`store.runs.get_with_position`, what `GET /v1/runs/{id}` runs) of A's
  newest queued run and of B's run: p50 and p99 over `--reads` reads;
- a claim: p50 over the first `--claims` claims, each after finishing the run before it;
- a create (by a third owner, before the claims, with the backlog queued): p50 over as many.

    python bench/fair_queue.py --queued 10000 --baseline-src /path/to/main/src
    python bench/fair_queue.py --queued 10000 --postgres postgresql://postgres@127.0.0.1/postgres

Each version runs in its own process with its `src` first on the path (this checkout's
`src`, and the baseline's when given), on its own fresh database, in the same run; the
table gives each figure and the ratio this/baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from statistics import quantiles
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODEL = "alibaba/qwen-image-edit-2511"
INPUT = {"prompt": "make it blue", "image_urls": ["https://example.com/a.png"]}


def _pct(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return quantiles(values, n=100, method="inclusive")[q - 1]


def measure(url: str, queued: int, reads: int, claims_timed: int) -> dict[str, Any]:
    """In the measured process: the scenario of the module docstring on a fresh store."""
    from pixelrun.runs import RunStatus
    from pixelrun.store import NewRun, Store

    store = Store(url)
    store.migrate()
    a, b = store.owners.ensure("owner-a"), store.owners.ensure("owner-b")
    backlog = []
    for start in range(0, queued, 500):  # futures: the group committer batches them
        futures = [
            store.runs.create_future(NewRun(a.id, MODEL, INPUT)) for _ in range(min(500, queued - start))
        ]
        backlog += [f.result().run for f in futures]
    if url.startswith("postgresql"):
        # Statistics, as autovacuum gathers them within a minute of such a fill: without them
        # the planner takes any index of `runs` for a good one (both versions alike).
        from sqlalchemy import text

        with store.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    first = store.queue.claim("w0", [MODEL], 300)
    assert first is not None and first.id == backlog[0].id
    b_run = store.runs.create(NewRun(b.id, MODEL, INPUT)).run

    def read_times(run_id: str) -> tuple[list[float], int | None]:
        times, position = [], None
        for _ in range(reads):
            started = time.perf_counter()
            found = store.runs.get_with_position(run_id)
            times.append((time.perf_counter() - started) * 1000)
            assert found is not None
            position = found[1]
        return times, position

    newest_times, newest_position = read_times(backlog[-1].id)
    b_times, b_position = read_times(b_run.id)
    # Creates with the backlog still queued (a third owner, one at a time as an API does).
    c = store.owners.ensure("owner-c")
    create_ms = []
    for _ in range(claims_timed):
        started = time.perf_counter()
        store.runs.create(NewRun(c.id, MODEL, INPUT))
        create_ms.append((time.perf_counter() - started) * 1000)
    claims, claim_ms, b_claimed = 0, [], False
    held: Any = first
    while not b_claimed or len(claim_ms) < claims_timed:
        assert store.queue.finish(held.id, held.attempt, held.worker_id or "", RunStatus.SUCCEEDED)
        started = time.perf_counter()
        held = store.queue.claim("w0", [MODEL], 300)
        if len(claim_ms) < claims_timed:
            claim_ms.append((time.perf_counter() - started) * 1000)
        if held is None:
            break
        if held.id == b_run.id:
            b_claimed = True
        elif not b_claimed:
            claims += 1
    store.close()
    return {
        "create_p50_ms": _pct(create_ms, 50),
        "claims_before_b": claims,
        "b_position": b_position,
        "newest_position": newest_position,
        "read_newest_p50_ms": _pct(newest_times, 50),
        "read_newest_p99_ms": _pct(newest_times, 99),
        "read_b_p50_ms": _pct(b_times, 50),
        "claim_p50_ms": _pct(claim_ms, 50),
    }


def _database(postgres: str | None) -> str:
    if postgres is None:
        return f"sqlite:///{Path(tempfile.mkdtemp(prefix='pixelrun-fair-')) / 'pixelrun.db'}"
    import psycopg

    name = f"pixelrun_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = postgres.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


def _drop(postgres: str | None, url: str) -> None:
    if postgres is None:
        return
    import psycopg

    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def run_version(src: Path, args: argparse.Namespace) -> dict[str, Any]:
    url = _database(args.postgres)
    try:
        env = {**os.environ, "PYTHONPATH": str(src)}
        command = [
            sys.executable,
            __file__,
            "--measure",
            url,
            "--queued",
            str(args.queued),
            "--reads",
            str(args.reads),
        ]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{src}: {done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        _drop(args.postgres, url)


def table(results: dict[str, dict[str, Any]], run_seconds: float) -> str:
    for result in results.values():
        result["b_wait_s"] = result["claims_before_b"] * run_seconds
    rows = [
        ("claims before B's run", "claims_before_b", "{:.0f}"),
        (f"B's wait at {run_seconds:g} s per run (s)", "b_wait_s", "{:.0f}"),
        ("B's queue_position", "b_position", "{}"),
        ("newest A run's queue_position", "newest_position", "{}"),
        ("poll read, newest A run, p50 (ms)", "read_newest_p50_ms", "{:.3f}"),
        ("poll read, newest A run, p99 (ms)", "read_newest_p99_ms", "{:.3f}"),
        ("poll read, B's run, p50 (ms)", "read_b_p50_ms", "{:.3f}"),
        ("claim p50 (ms)", "claim_p50_ms", "{:.3f}"),
        ("create p50 (ms)", "create_p50_ms", "{:.3f}"),
    ]
    compare = len(results) == 2
    header = ["figure", *results] + (["this/baseline"] if compare else [])
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for label, key, fmt in rows:
        values = [r[key] for r in results.values()]
        cells = [label] + [fmt.format(v) for v in values]
        if compare:
            before, after = values
            cells.append(f"{after / before:.2f}" if before else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queued", type=int, default=1000, help="runs owner A queues (Q)")
    parser.add_argument("--reads", type=int, default=200, help="polling reads per run measured")
    parser.add_argument("--claims", type=int, default=200, help="claims timed, and creates")
    parser.add_argument("--run-seconds", type=float, default=3.0, help="one run's duration, for B's wait")
    parser.add_argument("--baseline-src", type=Path, help="the `src` of another checkout to compare with")
    parser.add_argument("--postgres", help="admin URL of a PostgreSQL server (default: SQLite files)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.queued, args.reads, args.claims)))
        return 0
    results: dict[str, dict[str, Any]] = {}
    if args.baseline_src:
        results["baseline"] = run_version(args.baseline_src.resolve(), args)
    results["this"] = run_version(ROOT / "src", args)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"Q = {args.queued} runs of owner A queued, {backend}, {args.reads} reads per figure")
    print(table(results, args.run_seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
