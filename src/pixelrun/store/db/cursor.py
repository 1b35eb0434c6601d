"""Opaque keyset-pagination cursors over (created_at, id).

A cursor is `<microseconds since the epoch>_<run id>`: every string that matches
`CURSOR_PATTERN` decodes, so the pattern documented in the OpenAPI document is exact
(a cursor that points between runs simply starts the page there).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from pixelrun.store.errors import InvalidCursor

CURSOR_PATTERN = r"^[0-9]{1,16}_[0-9a-f-]{1,36}$"
_CURSOR = re.compile(CURSOR_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def encode_cursor(created_at: datetime, run_id: str) -> str:
    return f"{(created_at - _EPOCH) // _MICROSECOND}_{run_id}"


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    # `match` with `$` (which also takes one trailing newline) is how JSON Schema
    # validators read the documented pattern; the runtime reads it the same way.
    if not _CURSOR.match(cursor):
        raise InvalidCursor(f"invalid cursor {cursor!r}")
    micros, run_id = cursor.removesuffix("\n").split("_", 1)
    return _EPOCH + timedelta(microseconds=int(micros)), run_id
