"""Keeps a claimed run's lease alive and carries progress and cancellation between threads."""

from __future__ import annotations

import logging
import threading

from pixelrun.store import Store, is_unavailable

log = logging.getLogger(__name__)


class LeaseKeeper:
    """A thread that heartbeats the run every `interval` seconds while the engine computes.

    The heartbeat renews the lease, stores the latest progress, and tells us when the
    run is no longer ours (canceled, or reaped after a stall); the step callback then
    stops the engine at its next denoising step.
    """

    def __init__(
        self, store: Store, run_id: str, attempt: int, worker_id: str, lease_seconds: float, interval: float
    ) -> None:
        self._store = store
        self._run_id = run_id
        self._attempt = attempt
        self._worker_id = worker_id
        self._lease_seconds = lease_seconds
        self._interval = interval
        self._progress: tuple[int, int] | None = None
        self._stop = threading.Event()
        self.lost = threading.Event()
        self.canceled = False
        self._thread = threading.Thread(target=self._loop, name=f"lease-{run_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing (idempotent); the run's next write says whether it is still ours."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> LeaseKeeper:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def progress(self, step: int, steps: int) -> None:
        self._progress = (step, steps)

    def beat(self) -> None:
        step, steps = self._progress or (None, None)
        try:
            state = self._store.queue.heartbeat(
                self._run_id, self._attempt, self._worker_id, self._lease_seconds, step, steps
            )
        except Exception as exc:  # a store hiccup must not kill the run; the lease has slack
            if is_unavailable(exc):
                log.warning("heartbeat of run %s failed: the store is unavailable", self._run_id)
            else:
                log.exception("heartbeat of run %s failed", self._run_id)
            return
        if not state.owned:
            self.canceled = bool(state.canceled)
            self.lost.set()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.beat()
            if self.lost.is_set():
                return
