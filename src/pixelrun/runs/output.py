"""A run's stored output and its wire form.

Workers store each output image by storage key (`"key"`, storage/layout.py); file URLs
are signed and expire, so they are made when the output is read (API, callbacks),
never stored. `sync_mode` outputs carry their `data:` URI in `url` and have no key.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any


def render_output(output: dict[str, Any] | None, url_for: Callable[[str], str]) -> dict[str, Any] | None:
    """The wire form of a stored output: each `key` replaced by a signed `url`."""
    if output is None:
        return None
    rendered = copy.deepcopy(output)
    for item in rendered.get("outputs", []):
        key = item.pop("key", None)
        if key is not None:
            item["url"] = url_for(key)
    return rendered
