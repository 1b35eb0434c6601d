"""A small Server-Sent Events reader for the tests (independent of the SDK's parser)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Event:
    id: str | None
    event: str | None
    data: str | None
    comment: str | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.data or "null")


def read_events(response: httpx.Response) -> Iterator[Event]:
    """Events and comments (as Event(comment=...)) in order, until the server closes."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line == "":
            if fields:
                yield Event(fields.get("id"), fields.get("event"), fields.get("data"))
                fields = {}
            continue
        if line.startswith(":"):
            yield Event(None, None, None, comment=line[1:].strip())
            continue
        name, _, value = line.partition(":")
        fields[name] = value[1:] if value.startswith(" ") else value
    if fields:
        yield Event(fields.get("id"), fields.get("event"), fields.get("data"))
