"""No accepted run waits forever: queued runs of a model that has had no live worker for the
grace period fail with `model_unavailable` (docs/weights.md#runs-no-worker-takes).

The grace period is the create path's (`PIXELRUN_MODEL_GRACE_SECONDS`, api/model_gate.py):
a create is refused once a model has no live worker after it, and a run accepted before
(within the grace period, or just before its last worker stopped) fails once the same
holds for the model. A live worker is one the create path counts: ready, busy or still
loading, with a recent heartbeat. A negative grace period turns both off: where workers are
started on demand, runs wait in the queue for the first one (docs/deployment.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from pixelrun.store import Store

log = logging.getLogger(__name__)

#: Runs failed per transaction, and per model per pass: a long queue is drained over a few
#: passes in short transactions, without holding up the other housekeeping.
BATCH = 500
MAX_PER_PASS = 10 * BATCH


class UnservedModels:
    """Watches which models have live workers; fails the queued runs of those without one
    for `grace_seconds`, counted from when this process started or last saw a live worker."""

    def __init__(
        self, store: Store, grace_seconds: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store
        self.grace_seconds = grace_seconds
        self._clock = clock
        self.started_at = clock()
        self._last_live: dict[str, float] = {}

    def unserved_for(self, model_id: str, now: float) -> float:
        """Seconds `model_id` has had no live worker, as far as this process has seen."""
        return now - self._last_live.get(model_id, self.started_at)

    def fail_queued_runs(self) -> list[str]:
        """One pass: the ids of the runs it failed."""
        if self.grace_seconds < 0:
            return []
        now = self._clock()
        live = self.store.availability.live_counts()
        for model_id, count in live.items():
            if count > 0:
                self._last_live[model_id] = now
        failed: list[str] = []
        for model_id in self.store.unserved.queued_models():
            if live.get(model_id, 0) > 0 or self.unserved_for(model_id, now) < self.grace_seconds:
                continue
            failed.extend(self._fail_model(model_id))
        return failed

    def _fail_model(self, model_id: str) -> list[str]:
        failure = self.store.availability.summary([model_id])[model_id].last_failure
        why = f" The last worker failed: {failure.message}" if failure else ""
        message = (
            f"No worker has served {model_id} for {self.grace_seconds:g} s, so the run was not "
            f"started; start a worker for it (pixelrun worker --models {model_id}) and create "
            f"the run again.{why}"
        )
        failed: list[str] = []
        while len(failed) < MAX_PER_PASS:
            batch = self.store.unserved.fail_queued(model_id, message, limit=BATCH)
            failed.extend(batch)
            if len(batch) < BATCH:
                break
        if failed:
            log.warning(
                "%d queued run(s) of %s failed with model_unavailable: no live worker for %g s (first: %s)",
                len(failed),
                model_id,
                self.grace_seconds,
                failed[0],
            )
        return failed
