from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta, timezone

from pixelrun.runs import isoformat_utc, new_run_id, utc_now, uuid7_timestamp_ms


def test_run_id_is_a_uuid7_with_rfc_variant() -> None:
    parsed = uuid.UUID(new_run_id())
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122


def test_run_id_carries_the_current_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    run_id = new_run_id()
    after = time.time_ns() // 1_000_000
    # The counter may push the timestamp ahead by a millisecond or so under a burst.
    assert before <= uuid7_timestamp_ms(run_id) <= after + 5


def test_run_ids_are_unique_and_increasing_within_a_process() -> None:
    ids = [new_run_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_utc_now_is_aware_utc() -> None:
    now = utc_now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)


def test_isoformat_uses_offset_never_z() -> None:
    dt = datetime(2025, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    assert isoformat_utc(dt) == "2025-05-06T07:08:09.123456+00:00"
    cest = timezone(timedelta(hours=2))
    assert isoformat_utc(datetime(2025, 5, 6, 9, 8, 9, tzinfo=cest)) == "2025-05-06T07:08:09+00:00"
    assert isoformat_utc(datetime(2025, 5, 6, 7, 8, 9)) == "2025-05-06T07:08:09+00:00"
    assert not isoformat_utc(utc_now()).endswith("Z")
