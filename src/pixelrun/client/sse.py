"""An incremental Server-Sent Events parser (the WHATWG rules this API needs)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RawEvent:
    id: str | None
    event: str
    data: str


class SseParser:
    """Feed it lines (without their newline); it returns an event at each blank line.

    Comments (`: keep-alive`) are dropped; multi-line `data:` is joined with newlines.
    """

    def __init__(self) -> None:
        self._id: str | None = None
        self._event = ""
        self._data: list[str] = []
        self.last_event_id: str | None = None

    def feed(self, line: str) -> RawEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        return None

    def _dispatch(self) -> RawEvent | None:
        if self._id is not None:
            self.last_event_id = self._id
        if not self._data:
            self._event = ""
            return None
        event = RawEvent(self.last_event_id, self._event or "message", "\n".join(self._data))
        self._event, self._data, self._id = "", [], None
        return event
