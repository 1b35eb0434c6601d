"""Parsing `Prefer: wait[=N]` (docs/api.md#waiting-prefer-wait)."""

from __future__ import annotations

import pytest

from pixelrun.api.prefer import parse_prefer_wait


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("wait", 60),
        ("wait=5", 5),
        ("WAIT=7", 7),
        ('wait="9"', 9),
        ("respond-async, wait=10", 10),
        ("wait=10; foo=bar", 10),
        ("wait=600", 60),
        ("wait=0", None),
        ("wait=-1", None),
        ("wait=1.5", None),
        ("wait=soon", None),
        ("respond-async", None),
        ("waiting=3", None),
    ],
)
def test_parse_prefer_wait(header: str | None, expected: int | None) -> None:
    assert parse_prefer_wait(header) == expected
