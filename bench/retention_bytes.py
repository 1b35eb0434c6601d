"""How many bytes a run keeps in the store, fresh and after retention, on PostgreSQL
(docs/operations.md#retention).

Fills a fresh database with N runs through the real store code, each what a default run
writes: the create (an input naming its image by asset URL, as inline images are stored
since docs/uploads.md#inline-images, metadata, a callback URL), claim, running, a stream
row per denoising step (28), four log lines, the terminal change with one output, its
callback delivery (with the body that was sent) and one attempt. Then measures
`pg_total_relation_size` of every table (of a copy with its live rows, so deleted rows do
not count) three times: fresh; after a janitor pass once the runs ended more than the stream window
ago; after a pass once they ended more than the retention window ago. Each figure is bytes
per run over the empty store measured in the same run (the baseline: empty tables and
indexes take pages too).

Usage:

    .venv/bin/python bench/retention_bytes.py [--runs 2000] [--json out.json]

PIXELRUN_TEST_POSTGRES_URL names the server (default postgresql://postgres@127.0.0.1:5432/postgres);
the bench creates a database and drops it at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import insert, literal_column, select, text, update
from sqlalchemy.engine import make_url

from pixelrun.maintenance import Janitor
from pixelrun.runs import RunStatus, utc_now
from pixelrun.storage import LocalFileStorage, UrlSigner
from pixelrun.store import NewRun, Store
from pixelrun.store.tables import callback_attempts, callback_deliveries, metadata, runs

MODEL = "alibaba/qwen-image-edit-2511"
STEPS = 28
LOGS = ("fetched 1 input image(s): 1024x768", "denoising 28 steps at 1024x768", "encoded 1 output", "done")
ADMIN_URL = os.environ.get("PIXELRUN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def run_input() -> dict[str, Any]:
    return {
        "prompt": "replace the sky with a sunset over the sea, keep the people as they are",
        "image_urls": [f"asset://{uuid.uuid4()}"],
        "num_inference_steps": STEPS,
        "seed": 7,
    }


def fill(store: Store, owner_id: str, n: int) -> None:
    for i in range(n):
        run = store.runs.create(
            NewRun(
                owner_id,
                MODEL,
                input=run_input(),
                metadata={"order": i},
                callback_url="https://example.com/hooks/pixelrun",
            )
        ).run
        claimed = store.queue.claim("w1", [MODEL], lease_seconds=60)
        assert claimed is not None and claimed.id == run.id
        store.queue.mark_running(run.id, claimed.attempt, "w1")
        store.history.add_progress(run.id, [(step, STEPS) for step in range(1, STEPS + 1)])
        for message in LOGS:
            store.history.add_log(run.id, "info", message)
        output = {
            "outputs": [
                {
                    "key": f"runs/{run.id}/0.png",
                    "type": "image",
                    "content_type": "image/png",
                    "width": 1024,
                    "height": 768,
                    "file_size": 1_412_345,
                }
            ],
            "seed": 7,
            "model_data": {"steps": STEPS},
            "nsfw_detected": False,
            "timing": {"inference_ms": 21000, "total_ms": 22500},
        }
        store.queue.finish(
            run.id,
            claimed.attempt,
            "w1",
            RunStatus.SUCCEEDED,
            output=output,
            cost="0.025",
            cost_micros=25_000,
        )
        body = json.dumps({"id": run.id, "status_code": "succeeded", "input": run.input, "output": output})
        with store.engine.begin() as conn:
            delivery_id = conn.execute(
                select(callback_deliveries.c.id).where(callback_deliveries.c.run_id == run.id)
            ).scalar_one()
            conn.execute(
                update(callback_deliveries)
                .where(callback_deliveries.c.id == delivery_id)
                .values(
                    status="succeeded", completed_at=utc_now(), next_attempt_at=None, body=body, payload={}
                )
            )
            conn.execute(
                insert(callback_attempts).values(
                    delivery_id=delivery_id,
                    attempt_number=1,
                    status_code=200,
                    response_time_ms=40,
                    created_at=utc_now(),
                )
            )


def sizes(store: Store) -> dict[str, int]:
    """`pg_total_relation_size` of a copy of each table holding its live rows only, indexes
    included. A copy, not `VACUUM FULL`: that keeps rows deleted after the oldest snapshot
    of the server, which another session's long transaction can hold back for minutes."""
    names = [table.name for table in metadata.sorted_tables]
    measured = {}
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name in names:
            copy = f"bench_copy_{name}"
            conn.execute(text(f"DROP TABLE IF EXISTS {copy}"))
            conn.execute(text(f"CREATE TABLE {copy} (LIKE {name} INCLUDING INDEXES)"))
            conn.execute(text(f"INSERT INTO {copy} SELECT * FROM {name}"))
            conn.execute(text(f"REINDEX TABLE {copy}"))
            measured[name] = int(conn.execute(text(f"SELECT pg_total_relation_size('{copy}')")).scalar_one())
            conn.execute(text(f"DROP TABLE {copy}"))
    return measured


def age_runs(store: Store, by_hours: float) -> None:
    """Move every time of the finished runs back, as if they ended `by_hours` ago."""
    with store.engine.begin() as conn:
        shift = literal_column(f"interval '{by_hours} hours'")
        conn.execute(update(runs).values(completed_at=runs.c.completed_at - shift))
        conn.execute(update(callback_attempts).values(created_at=callback_attempts.c.created_at - shift))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    admin = make_url(ADMIN_URL).set(drivername="postgresql")
    name = f"pixelrun_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    store = Store(url)
    try:
        store.migrate()
        owner = store.owners.ensure("bench")
        storage = LocalFileStorage(
            Path(tempfile.mkdtemp(prefix="pixelrun-bench-")), "http://x", UrlSigner(b"b" * 32)
        )
        janitor = Janitor(store, storage, retention_hours=720, interval_seconds=60, stream_retention_hours=1)
        empty = sizes(store)
        started = time.monotonic()
        fill(store, owner.id, args.runs)
        fill_seconds = time.monotonic() - started
        fresh = sizes(store)
        age_runs(store, 2)
        janitor.run_once()
        after_stream = sizes(store)
        age_runs(store, 24 * 31)
        janitor.run_once()
        after_retention = sizes(store)
    finally:
        store.close()
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    n = args.runs
    phases = {"fresh": fresh, "after 1 h": after_stream, "after 30 days": after_retention}
    per_run = {
        phase: {table: (measured[table] - empty[table]) / n for table in empty}
        for phase, measured in phases.items()
    }
    print(f"{n} runs of {STEPS} steps filled in {fill_seconds:.1f} s; bytes per run over the empty store")
    print(f"| table | empty store (KiB) | {' | '.join(phases)} |")
    print("| --- | ---: |" + " ---: |" * len(phases))
    for table in sorted(empty, key=lambda t: -fresh[t]):
        if all(abs(per_run[phase][table]) < 1 for phase in phases):
            continue
        cells = " | ".join(f"{per_run[phase][table]:,.0f}" for phase in phases)
        print(f"| `{table}` | {empty[table] / 1024:,.0f} | {cells} |")
    totals = {phase: sum(per_run[phase].values()) for phase in phases}
    print(
        f"| **total** | {sum(empty.values()) / 1024:,.0f} | "
        + " | ".join(f"**{v:,.0f}**" for v in totals.values())
        + " |"
    )
    if args.json:
        args.json.write_text(
            json.dumps({"runs": n, "empty": empty, "per_run": per_run, "totals": totals}, indent=1)
        )


if __name__ == "__main__":
    main()
