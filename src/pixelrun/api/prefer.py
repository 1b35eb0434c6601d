"""`Prefer: wait[=N]` (docs/api.md#waiting-prefer-wait, RFC 7240): how long a create may hold its response."""

from __future__ import annotations

MAX_WAIT_SECONDS = 60


def parse_prefer_wait(header: str | None) -> int | None:
    """Seconds to wait (1..60; bare `wait` is 60), or None: absent or malformed is ignored.

    Values above 60 are capped; other preferences in the header are left alone.
    """
    if not header:
        return None
    for preference in header.split(","):
        token = preference.split(";", 1)[0].strip()
        name, _, value = token.partition("=")
        if name.strip().lower() != "wait":
            continue
        value = value.strip().strip('"')
        if not _:
            return MAX_WAIT_SECONDS
        if not value.isdigit() or int(value) < 1:
            return None
        return min(int(value), MAX_WAIT_SECONDS)
    return None
