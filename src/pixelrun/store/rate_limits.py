"""Per-key create counters in the store, so a limit holds across every API replica.

Fixed one-minute windows: each create bumps its key's counter for the current window
with one atomic upsert (`INSERT ... ON CONFLICT DO UPDATE ... RETURNING`, both back
ends) and is refused when the count passes the limit. A refused create still counts: a
client that keeps hammering stays refused until the window turns. Old windows of a key
are deleted when its next window opens.
"""

from __future__ import annotations

import math
import time

from sqlalchemy import Engine, delete
from sqlalchemy.dialects import postgresql, sqlite

from pixelrun.store.db.database import write_tx
from pixelrun.store.records import RateDecision
from pixelrun.store.tables import rate_limit_windows

WINDOW_SECONDS = 60


class RateLimits:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def hit(
        self, key_id: str, limit: int, now: float | None = None, window_seconds: int = WINDOW_SECONDS
    ) -> RateDecision:
        """Count one create of `key_id` in the current window and say whether it is allowed."""
        if limit < 1 or window_seconds < 1:
            raise ValueError("a rate limit needs at least 1 create per window of at least 1 s")
        now = time.time() if now is None else now
        window = int(now // window_seconds) * window_seconds
        dialect_insert = postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        statement = dialect_insert(rate_limit_windows).values(key_id=key_id, window_start=window, count=1)
        statement = statement.on_conflict_do_update(
            index_elements=[rate_limit_windows.c.key_id, rate_limit_windows.c.window_start],
            set_={"count": rate_limit_windows.c.count + 1},
        ).returning(rate_limit_windows.c.count)
        with write_tx(self._engine) as conn:
            count = int(conn.execute(statement).scalar_one())
            if count == 1:
                conn.execute(
                    delete(rate_limit_windows).where(
                        rate_limit_windows.c.key_id == key_id, rate_limit_windows.c.window_start < window
                    )
                )
        retry_after = max(1, math.ceil(window + window_seconds - now))
        return RateDecision(allowed=count <= limit, count=count, limit=limit, retry_after_seconds=retry_after)
