"""Run ids (UUIDv7, RFC 9562) and UTC timestamps in the wire format."""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import UTC, datetime

_lock = threading.Lock()
_last_ms = 0
_counter = 0
_COUNTER_MAX = 0xFFF  # the 12 bits of rand_a


def new_run_id() -> str:
    """A UUIDv7 string: 48-bit unix milliseconds, then a 12-bit counter, then 62 random bits.

    Ids made by one process are strictly increasing (RFC 9562 §6.2 method 1): within the
    same millisecond, or when the clock steps back, the counter is incremented, and when it
    overflows the timestamp is advanced by one millisecond.
    """
    global _last_ms, _counter
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms = now_ms
            # Start low in the counter space so that many ids fit in one millisecond.
            _counter = int.from_bytes(os.urandom(2), "big") & 0x1FF
        else:
            _counter += 1
            if _counter > _COUNTER_MAX:
                _last_ms += 1
                _counter = 0
        ms, counter = _last_ms, _counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= counter << 64
    value |= 0b10 << 62  # variant
    value |= rand_b
    return str(uuid.UUID(int=value))


def uuid7_timestamp_ms(run_id: str) -> int:
    """The unix millisecond timestamp carried by a UUIDv7."""
    return uuid.UUID(run_id).int >> 80


def utc_now() -> datetime:
    return datetime.now(UTC)


def isoformat_utc(dt: datetime) -> str:
    """ISO 8601 in UTC with a `+00:00` offset (never `Z`); naive datetimes are taken as UTC."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat()
