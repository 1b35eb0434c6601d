"""When a callback attempt ends the delivery and when it is tried again (docs/callbacks.md).

3 attempts, waiting 1 s then 2 s between them; only 5xx, timeouts and network errors
are retried. Any 2xx succeeds; 3xx (redirects are never followed), other 4xx and URLs
refused by the address rules fail at once: sending the same request again would not help.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from pixelrun.net import PostResult

MAX_ATTEMPTS: Final = 3
# Wait before attempt 2, before attempt 3, ... (the last value repeats if there are more).
RETRY_WAITS: Final = (1.0, 2.0)


@dataclass(frozen=True)
class Decision:
    outcome: str  # "succeeded" | "failed" | "pending" (retry after `retry_in` seconds)
    retry_in: float | None = None


def decide(
    result: PostResult,
    attempt_number: int,
    max_attempts: int = MAX_ATTEMPTS,
    waits: Sequence[float] = RETRY_WAITS,
) -> Decision:
    """The outcome of attempt `attempt_number` (1-based) that ended with `result`."""
    if result.ok:
        return Decision("succeeded")
    if not result.retryable or attempt_number >= max_attempts:
        return Decision("failed")
    return Decision("pending", retry_wait(attempt_number, waits))


def retry_wait(attempt_number: int, waits: Sequence[float] = RETRY_WAITS) -> float:
    """Seconds to wait after failed attempt `attempt_number` before the next one."""
    if not waits:
        return 0.0
    return float(waits[min(attempt_number, len(waits)) - 1])
