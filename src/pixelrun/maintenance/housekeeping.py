"""Housekeeping: the short, frequent passes that keep runs moving when a process dies.

- lease reaping: a run whose worker stopped renewing its lease (killed, stuck, cut off
  from the store) goes back to the queue, or fails after its last attempt;
- `Cancel-After` deadlines: a run past its deadline that no worker cancels (none serves
  its model, or one is stuck inside a step) is canceled;
- the idempotency-key purge: keys past their lifetime protect nothing any more;
- the preview purge: preview images of runs that ended (docs/api.md#previews);
- unserved models: queued runs of a model that has had no live worker for the grace
  period fail with `model_unavailable` (unserved.py).

Every API process and every worker runs them (`for_api`, `for_worker`); the store claims
rows with locks, so any number of processes can run them at once. The last pass runs in
API processes only: they accept the runs, with the same grace period.
"""

from __future__ import annotations

import logging

from pixelrun.maintenance.schedule import Due, every
from pixelrun.maintenance.unserved import UnservedModels
from pixelrun.store import Store

log = logging.getLogger(__name__)

#: API processes: a run of a dead worker, or past its deadline, waits at most this long
#: even while every worker is busy (docs/operations.md).
API_INTERVAL_SECONDS = 5.0
#: Workers: between runs, and while idle (the worker's queue wait wakes up this often).
WORKER_INTERVAL_SECONDS = 2.0


def reap_leases(store: Store) -> list[str]:
    """Runs whose worker's lease expired: requeued, or failed when out of attempts."""
    reaped = store.queue.reap_expired()
    for run_id in reaped:
        log.warning("run %s: lease expired, returned to the queue (or failed after max attempts)", run_id)
    return reaped


def expire_deadlines(store: Store) -> list[str]:
    """Runs past their `Cancel-After` deadline: canceled."""
    canceled = store.deadlines.expire()
    for run_id in canceled:
        log.info("run %s: canceled, its Cancel-After deadline passed", run_id)
    return canceled


def purge_idempotency_keys(store: Store) -> int:
    """Idempotency keys past their lifetime: deleted; how many."""
    return store.runs.purge_expired_keys()


def purge_previews(store: Store) -> int:
    """Preview images of runs that ended a little while ago: deleted; how many."""
    return store.previews.purge()


class Housekeeping:
    """The passes of one process, and how often it runs them."""

    def __init__(
        self, store: Store, interval: float, *, purge_keys: bool, unserved: UnservedModels | None = None
    ) -> None:
        self.store = store
        self.interval = interval
        self.purge_keys = purge_keys
        self.unserved = unserved
        self._due = Due(interval)

    def run_once(self) -> None:
        """One round of every pass; a store error propagates (the caller decides what it means)."""
        reap_leases(self.store)
        expire_deadlines(self.store)
        if self.purge_keys:
            purge_idempotency_keys(self.store)
            # API processes only, like the key purge: they serve the streams that read previews.
            purge_previews(self.store)
        if self.unserved is not None:
            self.unserved.fail_queued_runs()

    def run_if_due(self) -> None:
        """A round, unless one ran less than `interval` seconds ago (for the worker's loop)."""
        if self._due():
            self.run_once()

    async def run_forever(self) -> None:
        """A round every `interval` seconds until canceled (for an API process's event loop)."""
        await every(self.interval, "reaper", self.run_once)


def for_api(store: Store, model_grace_seconds: float = -1.0) -> Housekeeping:
    """`model_grace_seconds`: the create path's grace period (`PIXELRUN_MODEL_GRACE_SECONDS`);
    negative: queued runs wait for a worker however long it takes."""
    return Housekeeping(
        store, API_INTERVAL_SECONDS, purge_keys=True, unserved=UnservedModels(store, model_grace_seconds)
    )


def for_worker(store: Store) -> Housekeeping:
    # Workers leave the key purge to API processes: those make the keys (creates) and
    # purge them every few seconds already.
    return Housekeeping(store, WORKER_INTERVAL_SECONDS, purge_keys=False)
