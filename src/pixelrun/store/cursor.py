"""Opaque keyset-pagination cursors over (created_at, id)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from pixelrun.store.errors import InvalidCursor


def encode_cursor(created_at: datetime, run_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), run_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, run_id = json.loads(raw)
        created_at = datetime.fromisoformat(created)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidCursor(f"invalid cursor {cursor!r}") from exc
    if created_at.tzinfo is None or not isinstance(run_id, str):
        raise InvalidCursor(f"invalid cursor {cursor!r}")
    return created_at, run_id
