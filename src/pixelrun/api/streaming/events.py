"""Turn `run_stream_events` rows into SSE events (SPEC §7), with the run object presented once per batch."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from pixelrun.api.presenter import RunPresenter
from pixelrun.api.wire import LogOut, RunOut
from pixelrun.runs import RunStatus
from pixelrun.store import RunRecord, Store, StreamRow

KEEP_ALIVE = b": keep-alive\n\n"


@dataclass(frozen=True)
class SseEvent:
    id: int
    event: str  # status | progress | log | done
    data: str  # one line of JSON

    @cached_property
    def encoded(self) -> bytes:
        # Encoded once and shared by every stream of the run.
        return f"id: {self.id}\nevent: {self.event}\ndata: {self.data}\n\n".encode()


@dataclass(frozen=True)
class Snapshot:
    """A run's current state as the first `status` event of a fresh stream."""

    event: SseEvent
    terminal: bool


class StreamEvents:
    """Reads rows and the run from the store and builds events (blocking: call from a thread)."""

    def __init__(self, store: Store, presenter: RunPresenter) -> None:
        self.store = store
        self.presenter = presenter

    def run_json(self, run: RunRecord) -> str:
        return self.presenter.present(run).model_dump_json()

    def snapshot(self, run_id: str) -> Snapshot | None:
        last_id = self.store.history.stream_last_id(run_id)
        run = self.store.runs.get(run_id)
        if run is None:
            return None
        return Snapshot(SseEvent(last_id, "status", self.run_json(run)), run.status.is_terminal)

    def done_event(self, run_id: str) -> SseEvent | None:
        """The run's `done` event again (with its own id), when the run is terminal."""
        run = self.store.runs.get(run_id)
        if run is None or not run.status.is_terminal:
            return None
        return SseEvent(self.store.history.stream_done_id(run_id) or 0, "done", self.run_json(run))

    def after(self, cursors: dict[str, int]) -> dict[str, list[SseEvent]]:
        """New events per run, each run's object read and presented once for the batch."""
        rows = self.store.history.stream_rows_after(cursors)
        by_run: dict[str, list[StreamRow]] = {}
        for row in rows:
            by_run.setdefault(row.run_id, []).append(row)
        return {run_id: self._events(run_id, run_rows) for run_id, run_rows in by_run.items()}

    def _events(self, run_id: str, rows: Sequence[StreamRow]) -> list[SseEvent]:
        run_out: RunOut | None = None
        if any(row.kind in ("status", "done") for row in rows):
            run = self.store.runs.get(run_id)
            run_out = self.presenter.present(run) if run is not None else None
        current = run_out.model_dump_json() if run_out is not None else ""
        events: list[SseEvent] = []
        for row in rows:
            if row.kind == "progress":
                data = json.dumps({"step": row.step, "steps": row.steps}, separators=(",", ":"))
                events.append(SseEvent(row.id, "progress", data))
            elif row.kind == "log" and row.log is not None:
                events.append(SseEvent(row.id, "log", LogOut.from_record(row.log).model_dump_json()))
            elif run_out is not None and row.status is not None:
                data = current if row.status == run_out.status_code else _as_of(run_out, row.status)
                events.append(SseEvent(row.id, row.kind, data))
        return events


def _as_of(run: RunOut, status: RunStatus) -> str:
    """The run read now, shown with the status of an earlier change that was read late
    (one batch can hold several changes): fields of later phases are blanked."""
    update: dict[str, object] = {"status_code": status, "queue_position": None}
    if not status.is_terminal:
        update |= {"output": None, "completed_at": None, "duration_ms": None}
    if status is not RunStatus.RUNNING:
        update["progress"] = None
    if status in (RunStatus.QUEUED, RunStatus.DISPATCHING):
        update["started_at"] = None
    return run.model_copy(update=update).model_dump_json()
