"""Records every denoising step as a stream row, off the engine's thread.

The engine thread only appends to a queue; a writer thread turns whatever has piled up
into one transaction, so a fast run never loses a step and a slow store never slows the
denoising loop. Leaving the context flushes the rest, so every progress row is written
before the run's terminal status.
"""

from __future__ import annotations

import logging
import queue
import threading

from pixelrun.store import Store

log = logging.getLogger(__name__)

_STOP = (-1, -1)


class ProgressRecorder:
    def __init__(self, store: Store, run_id: str) -> None:
        self._store = store
        self._run_id = run_id
        self._queue: queue.SimpleQueue[tuple[int, int]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=f"progress-{run_id}", daemon=True)

    def __enter__(self) -> ProgressRecorder:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._queue.put(_STOP)
        self._thread.join()

    def step(self, step: int, steps: int) -> None:
        self._queue.put((step, steps))

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get())
            if _STOP in batch:
                stopping = True
                batch = [item for item in batch if item != _STOP]
            try:
                self._store.history.add_progress(self._run_id, batch)
            except Exception:  # progress is best effort; the run itself must go on
                log.exception("could not record progress of run %s", self._run_id)
