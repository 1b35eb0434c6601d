"""Typed run-stream events, from `run_stream_events` rows to the wire (docs/api.md,
"Streaming").

A row becomes one of `StatusEvent`, `ProgressEvent`, `LogEvent`, `PreviewEvent`,
`DoneEvent`, built once per change and shared by every stream of the run; each encodes
itself to SSE bytes once.
Translators (the Replicate stream) read the typed fields, never the encoded text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

from pixelrun.api.presenter import RunPresenter
from pixelrun.api.wire import LogOut, RunOut
from pixelrun.media.datauri import to_data_uri
from pixelrun.runs import RunStatus
from pixelrun.store import PreviewImage, RunRecord, Store, StreamKind, StreamRow


@dataclass(frozen=True)
class KeepAlive:
    """An SSE comment that keeps idle connections open."""

    encoded: ClassVar[bytes] = b": keep-alive\n\n"


KEEP_ALIVE = KeepAlive()


@dataclass(frozen=True)
class SseEvent:
    id: int
    #: The SSE event name (`event:` line).
    name: ClassVar[str]

    @property
    def data(self) -> str:
        """The `data:` line: one line of JSON."""
        raise NotImplementedError

    @cached_property
    def encoded(self) -> bytes:
        # Encoded once and shared by every stream of the run.
        return f"id: {self.id}\nevent: {self.name}\ndata: {self.data}\n\n".encode()


@dataclass(frozen=True)
class StatusEvent(SseEvent):
    """The run object, as of a status change."""

    run: RunOut
    name: ClassVar[str] = StreamKind.STATUS.value

    @cached_property
    def data(self) -> str:  # type: ignore[override]
        return self.run.model_dump_json()


@dataclass(frozen=True)
class DoneEvent(StatusEvent):
    """The terminal run object; the stream's last event."""

    name: ClassVar[str] = StreamKind.DONE.value


@dataclass(frozen=True)
class ProgressEvent(SseEvent):
    step: int
    steps: int
    name: ClassVar[str] = StreamKind.PROGRESS.value

    @property
    def data(self) -> str:
        return json.dumps({"step": self.step, "steps": self.steps}, separators=(",", ":"))


@dataclass(frozen=True)
class PreviewEvent(SseEvent):
    """A preview of the image forming (docs/api.md#previews): `url` is a `data:` URI, so the
    event is self-contained (no second request, nothing to sign, expire or delete)."""

    step: int
    steps: int
    image: PreviewImage
    name: ClassVar[str] = StreamKind.PREVIEW.value

    @cached_property
    def url(self) -> str:
        return to_data_uri(self.image.data, self.image.media_type)

    @cached_property
    def data(self) -> str:  # type: ignore[override]
        return json.dumps({"step": self.step, "steps": self.steps, "url": self.url}, separators=(",", ":"))


@dataclass(frozen=True)
class LogEvent(SseEvent):
    log: LogOut
    name: ClassVar[str] = StreamKind.LOG.value

    @cached_property
    def data(self) -> str:  # type: ignore[override]
        return self.log.model_dump_json()


StreamEvent = StatusEvent | ProgressEvent | LogEvent | PreviewEvent | DoneEvent


@dataclass(frozen=True)
class Snapshot:
    """A run's current state as the first `status` event of a fresh stream."""

    event: StatusEvent
    terminal: bool


class StreamEvents:
    """Reads rows and the run from the store and builds events (blocking: call from a thread)."""

    def __init__(self, store: Store, presenter: RunPresenter) -> None:
        self.store = store
        self.presenter = presenter

    def snapshot(self, run_id: str) -> Snapshot | None:
        last_id = self.store.history.stream_last_id(run_id)
        run = self.store.runs.get(run_id)
        if run is None:
            return None
        return Snapshot(StatusEvent(last_id, self.presenter.present(run)), run.status.is_terminal)

    def done_event(self, run_id: str) -> DoneEvent | None:
        """The run's `done` event again (with its own id), when the run is terminal."""
        run = self.store.runs.get(run_id)
        if run is None or not run.status.is_terminal:
            return None
        return DoneEvent(self.store.history.stream_done_id(run_id) or 0, self.presenter.present(run))

    def after(self, cursors: dict[str, int]) -> dict[str, list[StreamEvent]]:
        """New events per run, each run's object read and presented once for the batch."""
        rows = self.store.history.stream_rows_after(cursors)
        by_run: dict[str, list[StreamRow]] = {}
        for row in rows:
            by_run.setdefault(row.run_id, []).append(row)
        return {run_id: self._events(run_id, run_rows) for run_id, run_rows in by_run.items()}

    def _events(self, run_id: str, rows: Sequence[StreamRow]) -> list[StreamEvent]:
        current: RunOut | None = None
        if any(row.kind in (StreamKind.STATUS, StreamKind.DONE) for row in rows):
            run: RunRecord | None = self.store.runs.get(run_id)
            current = self.presenter.present(run) if run is not None else None
        events: list[StreamEvent] = []
        for row in rows:
            if row.kind is StreamKind.PROGRESS and row.step is not None and row.steps is not None:
                events.append(ProgressEvent(row.id, row.step, row.steps))
            elif row.kind is StreamKind.LOG and row.log is not None:
                events.append(LogEvent(row.id, LogOut.from_record(row.log)))
            elif row.kind is StreamKind.PREVIEW:
                # Its image is gone once the run ended a while ago: nothing to show.
                if row.preview is not None and row.step is not None and row.steps is not None:
                    events.append(PreviewEvent(row.id, row.step, row.steps, row.preview))
            elif current is not None and row.status is not None:
                shown = current if row.status == current.status_code else _as_of(current, row.status)
                kind = DoneEvent if row.kind is StreamKind.DONE else StatusEvent
                events.append(kind(row.id, shown))
        for event in events:
            # Encoded here, in the reader's thread, once: an event that cannot be encoded
            # fails this run's read (isolated by the hub), not every stream that sends it.
            _ = event.encoded
        return events


def _as_of(run: RunOut, status: RunStatus) -> RunOut:
    """The run read now, shown with the status of an earlier change that was read late
    (one batch can hold several changes): fields of later phases are blanked."""
    update: dict[str, object] = {"status_code": status, "queue_position": None}
    if not status.is_terminal:
        update |= {"output": None, "completed_at": None, "duration_ms": None}
    if status is not RunStatus.RUNNING:
        update["progress"] = None
    if status in (RunStatus.QUEUED, RunStatus.DISPATCHING):
        update["started_at"] = None
    return run.model_copy(update=update)
