"""Delivering computed runs on a thread of their own, while the worker computes the next.

Encoding a 1 MP output and writing it to storage takes tens of milliseconds of CPU (WEBP
~90 ms, PNG ~20 ms on a quiet core; several times that on a busy one): time in which a
GPU would sit idle between two runs. The worker hands each computed run to this thread
(encode, store, price, mark succeeded) and claims its next run at once. At most one run
waits for delivery while another is being delivered, so a worker never holds more than
two runs' images; `submit` blocks beyond that, which paces the worker to its storage.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class OutputDelivery:
    def __init__(self, name: str = "output-delivery") -> None:
        self._jobs: queue.Queue[Callable[[], object] | None] = queue.Queue(maxsize=1)
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], object]) -> None:
        """Run `job` on the delivery thread; blocks while another run already waits."""
        self._jobs.put(job)

    def close(self) -> None:
        """Deliver what was submitted, then stop the thread."""
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job()
            except Exception:
                # Like a crash of the executor: the run's lease expires and the reaper
                # returns it to the queue; later deliveries go on.
                log.exception("delivering a run's outputs failed")
