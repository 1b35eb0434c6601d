"""Retention: nothing in the store or file storage grows without bound
(docs/operations.md#retention).

- `PIXELRUN_STREAM_RETENTION_HOURS` (1 h) after a run ended: its stream rows (one per
  status change, step, log line and preview), which only live streams and resumes read;
- `PIXELRUN_RETENTION_HOURS` after it ended: its output files (and `sync_mode` outputs
  inlined in its record), log lines, webhook-event
  deliveries and delivery bodies; uploaded assets (inline `data:` images of creates
  among them) that long after their upload; callback attempts;
- a day after their last heartbeat: worker rows (stopped, failed or killed);
- a day after they started: rate-limit windows of keys gone quiet.

Kept for good: the run record (input, output sizes and types, cost: billing), its status
events (who, when, which attempt, why it failed: support) and its callback deliveries'
rows. Uploads never confirmed are deleted an hour after their upload URL expired.

Runs in every API process (api/background.py), but a lease in the store lets one replica
at a time do a pass. A run whose files were deleted keeps its outputs' sizes and types,
each marked `"expired": true` with `"url": null`, so clients see why there is no link
rather than getting a dead one. Files go first and the record is marked after, so a crash
in between leaves a run that the next pass cleans again, never a record that hides a file.
"""

from __future__ import annotations

import copy
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pixelrun.maintenance.deletion import delete_asset
from pixelrun.maintenance.schedule import every
from pixelrun.runs import utc_now
from pixelrun.storage import FileStorage, layout
from pixelrun.store import Store

log = logging.getLogger(__name__)

LEASE_NAME = "retention-janitor"
BATCH = 100
#: Runs whose stream rows one transaction deletes.
STREAM_BATCH = 500
# An upload not confirmed within this long after its URL expired is given up on.
ABANDONED_UPLOAD_GRACE = timedelta(hours=1)
#: A worker row with no heartbeat for this long is deleted (a live worker beats every few seconds).
DEAD_WORKER_AFTER = timedelta(days=1)
#: A rate-limit window that started this long ago counts nothing any more (windows are a minute).
OLD_RATE_WINDOW = timedelta(days=1)


@dataclass
class JanitorReport:
    runs: int = 0
    assets: int = 0
    callback_attempts: int = 0
    streams: int = 0
    workers: int = 0
    rate_windows: int = 0


def expired_output(output: dict[str, Any] | None) -> dict[str, Any] | None:
    """The output with each stored file, and each `sync_mode` image inlined as a `data:`
    URI (in the record itself), replaced by an expired marker (no URL)."""
    if output is None:
        return None
    rewritten = copy.deepcopy(output)
    for item in rewritten.get("outputs", []):
        if not isinstance(item, dict):
            continue
        inline = isinstance(item.get("url"), str) and item["url"][:5].lower() == "data:"
        if item.pop("key", None) is not None or inline:
            item["url"] = None
            item["expired"] = True
    return rewritten


class Janitor:
    def __init__(
        self,
        store: Store,
        storage: FileStorage,
        retention_hours: float,
        interval_seconds: float,
        stream_retention_hours: float = 1.0,
    ) -> None:
        """`retention_hours` 0 keeps files, assets, logs and attempts (the rest is still pruned)."""
        self.store = store
        self.storage = storage
        self.retention = timedelta(hours=retention_hours) if retention_hours > 0 else None
        self.stream_retention = timedelta(hours=stream_retention_hours)
        self.interval = interval_seconds
        self.holder = f"api_{uuid.uuid4().hex[:12]}"

    def run_once(self) -> JanitorReport | None:
        """One pass, logged when it deleted anything; None when another replica holds the lease."""
        # The lease outlives a pass by far; a crashed holder's lease lapses after it.
        if not self.store.retention.try_lease(LEASE_NAME, self.holder, max(self.interval * 3, 60.0)):
            return None
        now = utc_now()
        report = JanitorReport()
        while pruned := self.store.retention.prune_streams(now - self.stream_retention, STREAM_BATCH):
            report.streams += pruned
        report.workers = self.store.retention.delete_dead_workers(now - DEAD_WORKER_AFTER)
        report.rate_windows = self.store.retention.delete_rate_windows(
            int((now - OLD_RATE_WINDOW).timestamp())
        )
        if self.retention is not None:
            self._expire_files(now - self.retention, report)
        if any(vars(report).values()):
            log.info(
                "retention: deleted the files of %d run(s), %d asset(s), %d callback attempt(s), "
                "the stream rows of %d run(s), %d worker row(s), %d rate-limit window(s)",
                report.runs,
                report.assets,
                report.callback_attempts,
                report.streams,
                report.workers,
                report.rate_windows,
            )
        return report

    def _expire_files(self, cutoff: datetime, report: JanitorReport) -> None:
        while batch := self.store.retention.runs_with_files(cutoff, BATCH):
            for run in batch:
                self.storage.delete_prefix(layout.run_prefix(run.id))
                self.store.retention.mark_files_expired(run.id, expired_output(run.output))
                report.runs += 1
        while assets := self.store.assets.created_before(cutoff, BATCH):
            for asset in assets:
                delete_asset(self.store, self.storage, asset)
                report.assets += 1
        while abandoned := self.store.assets.abandoned_uploads(utc_now() - ABANDONED_UPLOAD_GRACE, BATCH):
            for asset in abandoned:
                delete_asset(self.store, self.storage, asset)
                report.assets += 1
        report.callback_attempts = self.store.retention.delete_callback_attempts(cutoff)

    async def run_forever(self) -> None:
        """A pass every `interval` seconds until canceled (for an API process's event loop)."""
        await every(self.interval, "retention", self.run_once)
