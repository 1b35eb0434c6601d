"""Sends a run's previews to its event stream, off the engine's thread (docs/api.md#previews).

The engine hands over a `Preview` after the steps the run asked for; this thread waits for
the device, encodes the small image and writes it to the store (`store.previews`), which
tells the run's streams. Previews are extras: a failure is logged once and the run goes
on; leaving the context writes those still waiting, so they reach the stream before the
run's terminal status.
"""

from __future__ import annotations

import logging
import queue
import threading

from pixelrun.engines.engine import Preview, PreviewRequest
from pixelrun.media import PREVIEW_CONTENT_TYPE, encode_preview
from pixelrun.store import Store

log = logging.getLogger(__name__)

_STOP = None


def preview_every(asked: int | None, default: int) -> int:
    """The run's own `preview_every`, else the server's default (`PIXELRUN_PREVIEW_EVERY`)."""
    return default if asked is None else asked


class PreviewRecorder:
    def __init__(self, store: Store, run_id: str, every: int) -> None:
        self._store = store
        self._run_id = run_id
        self.request = PreviewRequest(every, self._queue_put)
        self._queue: queue.SimpleQueue[Preview | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=f"previews-{run_id}", daemon=True)
        self._failed = False

    def __enter__(self) -> PreviewRecorder:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._queue.put(_STOP)
        self._thread.join()

    def _queue_put(self, preview: Preview) -> None:
        # The engine's thread: one put, nothing else.
        self._queue.put(preview)

    def _loop(self) -> None:
        while (preview := self._queue.get()) is not _STOP:
            if self._failed:
                continue
            try:
                data = encode_preview(preview.render())
                self._store.previews.add(
                    self._run_id, preview.step, preview.steps, PREVIEW_CONTENT_TYPE, data
                )
            except Exception:
                # Once per run: a store that refuses one preview would refuse the next ones too.
                self._failed = True
                log.warning("run %s: previews stopped: one could not be sent", self._run_id, exc_info=True)
