"""Typed wire objects: the run (docs/api.md#run-object), its output, log lines, previews, stream events, assets.

Unknown fields are kept (`extra="allow"`), so a newer server never breaks an older client.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "canceled"})


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class OutputImage(_Wire):
    url: str
    type: str = "image"
    content_type: str | None = None
    width: int | None = None
    height: int | None = None
    file_size: int | None = None


class RunOutput(_Wire):
    outputs: list[OutputImage] = []
    seed: int | None = None
    model_data: dict[str, Any] | None = None
    nsfw_detected: bool | None = None
    timing: dict[str, Any] | None = None


class Progress(_Wire):
    step: int
    steps: int


class CostLine(_Wire):
    item: str
    quantity: float | int | str
    unit: str
    unit_price: str
    amount: str


class RunLinks(_Wire):
    self: str | None = None
    cancel: str | None = None
    logs: str | None = None
    callback: str | None = None


class Run(_Wire):
    id: str
    model_id: str
    status_code: str
    input: dict[str, Any] = {}
    output: RunOutput | None = None
    metadata: dict[str, Any] | None = None
    callback_url: str | None = None
    client_ref: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: int | None = None
    cost: str | None = None
    cost_breakdown: list[CostLine] | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    failure_stage_code: str | None = None
    progress: Progress | None = None
    queue_position: int | None = None
    links: RunLinks | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status_code in TERMINAL_STATUSES


class LogLine(_Wire):
    id: int
    run_id: str
    level_code: str
    message: str
    timestamp: datetime
    meta: dict[str, Any] | None = None


class Asset(_Wire):
    id: str
    name: str | None = None
    url: str
    mime_type: str | None = None
    size_bytes: int | None = None
    width: int | None = None
    height: int | None = None
    created_at: datetime | None = None


class Preview(_Wire):
    """A preview of the image forming after `step` of `steps` (docs/api.md#previews); `url`
    is a `data:` URI of a small JPEG."""

    step: int
    steps: int
    url: str

    @property
    def content_type(self) -> str:
        return self.url[5:].split(";", 1)[0] if self.url.startswith("data:") else ""

    def image_bytes(self) -> bytes:
        """The image file's bytes (decoded from the data: URI)."""
        header, _, payload = self.url.partition(",")
        if not header.startswith("data:") or not header.endswith(";base64"):
            raise ValueError("a preview url is a base64 data: URI")
        return base64.b64decode(payload)


EventName = Literal["status", "progress", "log", "preview", "done"]


class StreamEvent(_Wire):
    """One event of `GET /v1/runs/{id}/stream`: `data` is a `Run` (status, done),
    a `Progress`, a `LogLine` or a `Preview`."""

    id: str | None
    event: str
    data: Run | Progress | LogLine | Preview | Any


def parse_event(event_id: str | None, name: str, data: Any) -> StreamEvent:
    parsed: Any = data
    if name in ("status", "done"):
        parsed = Run.model_validate(data)
    elif name == "progress":
        parsed = Progress.model_validate(data)
    elif name == "log":
        parsed = LogLine.model_validate(data)
    elif name == "preview":
        parsed = Preview.model_validate(data)
    return StreamEvent(id=event_id, event=name, data=parsed)
