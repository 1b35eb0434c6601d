"""Refuse runs no worker will take: `503 MODEL_UNAVAILABLE` once the grace period is over.

Right after start-up the workers are still starting (`make serve` then a request at
once), so for `model_grace_seconds` every create is queued. Afterwards a create needs a
live worker for its model: one that is ready, busy, or loading its model. The lookup is
cached for a second so the create path pays one small query per second, not per request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pixelrun.api.errors import ApiError
from pixelrun.store import Store

CACHE_SECONDS = 1.0


class ModelGate:
    def __init__(
        self,
        store: Store,
        grace_seconds: float,
        *,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.grace_seconds = grace_seconds
        self.cache_seconds = cache_seconds
        self._clock = clock
        self.started_at = clock()
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._fetched_at = float("-inf")

    @property
    def in_grace(self) -> bool:
        return self._clock() - self.started_at < self.grace_seconds

    def live_workers(self, model_id: str) -> int:
        """Workers serving or loading `model_id`, at most `cache_seconds` old."""
        now = self._clock()
        with self._lock:
            if now - self._fetched_at >= self.cache_seconds:
                self._counts = self.store.availability.live_counts()
                self._fetched_at = now
            return self._counts.get(model_id, 0)

    def check_reads_store(self, model_id: str) -> bool:
        """Whether `check` would query the store (a stale cache, or no live worker to name)."""
        if self.grace_seconds < 0 or self.in_grace:
            return False
        with self._lock:
            stale = self._clock() - self._fetched_at >= self.cache_seconds
            return stale or self._counts.get(model_id, 0) == 0

    def check(self, model_id: str) -> None:
        """Raise `ApiError(503, MODEL_UNAVAILABLE)` when no live worker can take the run."""
        if self.grace_seconds < 0 or self.in_grace or self.live_workers(model_id) > 0:
            return
        failure = self.store.availability.summary([model_id])[model_id].last_failure
        why = f" The last worker failed: {failure.message}" if failure else ""
        raise ApiError(
            503,
            "MODEL_UNAVAILABLE",
            f"No worker can serve {model_id} now, so the run was not queued.{why}",
        )
