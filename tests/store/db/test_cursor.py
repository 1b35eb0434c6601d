from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pixelrun.store.db.cursor import decode_cursor, encode_cursor
from pixelrun.store.errors import InvalidCursor


def test_round_trip_is_url_safe() -> None:
    at = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    cursor = encode_cursor(at, "0190c0de-0000-7000-8000-000000000000")
    assert all(c.isalnum() or c in "-_" for c in cursor)
    assert decode_cursor(cursor) == (at, "0190c0de-0000-7000-8000-000000000000")


@pytest.mark.parametrize("bad", ["", "!!!", "bm90IGpzb24", "WzEsMl0", "WyIyMDI1LTAxLTAyVDAzOjA0OjA1IiwieCJd"])
def test_garbage_is_refused(bad: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(bad)
