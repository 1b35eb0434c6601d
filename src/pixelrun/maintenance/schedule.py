"""When maintenance passes run: over and over on an API process's event loop (`every`), or
between the other work of a worker's loop (`Due`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from pixelrun.store import is_unavailable

log = logging.getLogger(__name__)


async def every(interval: float, name: str, one_pass: Callable[[], object]) -> None:
    """Run `one_pass` on a thread now and then every `interval` seconds, until canceled.

    A failed pass is logged and the next one tried: a store outage only skips passes
    (docs/operations.md).
    """
    while True:
        try:
            await asyncio.to_thread(one_pass)
        except Exception as exc:
            if is_unavailable(exc):
                log.warning("%s pass skipped: the store is unavailable", name)
            else:
                log.exception("%s pass failed; trying again later", name)
        await asyncio.sleep(interval)


class Due:
    """True when called for the first time and then once `interval` seconds have passed
    since it last was: for a loop that has other work to do between passes."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: float | None = None

    def __call__(self) -> bool:
        now = time.monotonic()
        if self._last is not None and now - self._last < self.interval:
            return False
        self._last = now
        return True
