"""A short-lived, per-process cache of API key lookups.

Every request authenticates; the lookup is a join on the key's hash. Polling clients
send many requests per second, so an API process reuses a successful lookup for
`PIXELRUN_AUTH_CACHE_SECONDS` (2 s by default): a revoked key keeps working for at most
that long in each process. Unknown keys are never cached (nothing to reuse, and a flood
of random keys must not grow memory).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pixelrun.store import AuthContext

MAX_ENTRIES = 10_000


class AuthCache:
    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: dict[str, tuple[float, AuthContext]] = {}
        self._lock = threading.Lock()

    def cached(self, plain_key: str) -> AuthContext | None:
        """The cached lookup if it is still fresh; None means "look it up" (not "unknown")."""
        entry = self._entries.get(plain_key)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        return None

    def get(self, plain_key: str, lookup: Callable[[str], AuthContext | None]) -> AuthContext | None:
        if self.ttl_seconds <= 0:
            return lookup(plain_key)
        now = self._clock()
        entry = self._entries.get(plain_key)
        if entry is not None and entry[0] > now:
            return entry[1]
        auth = lookup(plain_key)
        with self._lock:
            if auth is None:
                self._entries.pop(plain_key, None)
            else:
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()  # rare; simpler than LRU bookkeeping on every hit
                self._entries[plain_key] = (now + self.ttl_seconds, auth)
        return auth
