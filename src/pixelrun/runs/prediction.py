"""A run as a Replicate prediction (docs/compatibility.md#replicate-predictions): the body of the compatible routes and of
their webhooks.

It lives in the domain, next to the run callback payload, because the callback
dispatcher builds webhook bodies from it as the API builds responses: one shape for both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from pixelrun.runs.ids import isoformat_utc
from pixelrun.runs.output import render_output
from pixelrun.runs.status import RunStatus
from pixelrun.runs.webhook_events import WebhookEvent

#: `runs.callback_format` of a run whose callback URL is a Replicate webhook.
PREDICTION_CALLBACK_FORMAT = "prediction"

PREDICTION_STATUS: dict[RunStatus, str] = {
    RunStatus.QUEUED: "starting",
    RunStatus.DISPATCHING: "starting",
    RunStatus.RUNNING: "processing",
    RunStatus.SUCCEEDED: "succeeded",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELED: "canceled",
}


class PredictionRun(Protocol):
    """What the builder reads of a run (a store `RunRecord` has all of it)."""

    @property
    def id(self) -> str: ...
    @property
    def model_id(self) -> str: ...
    @property
    def status(self) -> RunStatus: ...
    @property
    def input(self) -> dict[str, Any]: ...
    @property
    def output(self) -> dict[str, Any] | None: ...
    @property
    def failure_message(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def completed_at(self) -> datetime | None: ...


def prediction_output(run: PredictionRun, url_for: Callable[[str], str]) -> list[str] | None:
    """The output images' URLs, in order; None until the run succeeds."""
    if RunStatus(run.status) is not RunStatus.SUCCEEDED:
        return None
    rendered = render_output(run.output, url_for) or {}
    return [str(item["url"]) for item in rendered.get("outputs", [])]


def prediction_urls(base_url: str, run_id: str) -> dict[str, str]:
    root = f"{base_url.rstrip('/')}/v1/predictions/{run_id}"
    return {"get": root, "cancel": f"{root}/cancel", "stream": f"{root}/stream"}


def build_prediction(
    run: PredictionRun,
    *,
    base_url: str,
    url_for: Callable[[str], str],
    log_lines: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The prediction object of a run. `log_lines` None gives `logs: null` (lists leave them out)."""
    status = RunStatus(run.status)
    metrics: dict[str, Any] = {}
    if run.started_at is not None and run.completed_at is not None:
        metrics["predict_time"] = round((run.completed_at - run.started_at).total_seconds(), 3)
    if run.completed_at is not None:
        metrics["total_time"] = round((run.completed_at - run.created_at).total_seconds(), 3)
    return {
        "id": run.id,
        "model": run.model_id,
        # Pixelrun serves one version of each model; its id is the model id.
        "version": run.model_id,
        "status": PREDICTION_STATUS[status],
        "input": run.input,
        "output": prediction_output(run, url_for),
        "logs": "\n".join(log_lines) if log_lines is not None else None,
        "error": run.failure_message if status is RunStatus.FAILED else None,
        "metrics": metrics,
        "source": "api",
        "created_at": isoformat_utc(run.created_at),
        "started_at": isoformat_utc(run.started_at) if run.started_at is not None else None,
        "completed_at": isoformat_utc(run.completed_at) if run.completed_at is not None else None,
        "urls": prediction_urls(base_url, run.id),
    }


def prediction_as_of(prediction: dict[str, Any], event: WebhookEvent) -> dict[str, Any]:
    """The prediction as a non-terminal webhook event shows it: processing, with the output
    only for `output`, and none of what the terminal event tells (error, end, metrics)."""
    if event.is_terminal:
        return prediction
    return {
        **prediction,
        "status": PREDICTION_STATUS[RunStatus.RUNNING],
        "output": prediction["output"] if event is WebhookEvent.OUTPUT else None,
        "error": None,
        "metrics": {},
        "completed_at": None,
    }
