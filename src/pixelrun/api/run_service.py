"""The one way a run enters the system and leaves it as a wire object.

Every create route (the native one and the OpenAI / Replicate translators) goes through
`submit_run`, and every route that shows a run uses `present_run`: one run path, one
set of checks, whatever the wire shape outside.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from pixelrun.api.errors import ApiError, field_errors, validation_error
from pixelrun.api.models_catalog import CatalogModel
from pixelrun.api.wire import RunOut, unstorable_values
from pixelrun.config import Settings
from pixelrun.runs import RunStatus
from pixelrun.storage import FileStorage
from pixelrun.store import AuthContext, InsufficientCredit, RunRecord, Store


def present_run(run: RunRecord, store: Store, settings: Settings, storage: FileStorage) -> RunOut:
    """The wire form of a run: signed file URLs, links, and the queue position when queued."""
    ttl = settings.file_url_ttl_seconds
    return RunOut.from_record(
        run,
        base_url=settings.public_base_url,
        url_for=lambda key: storage.url_for(key, ttl),
        queue_position=store.queue_position(run) if run.status is RunStatus.QUEUED else None,
    )


def submit_run(
    *,
    store: Store,
    settings: Settings,
    auth: AuthContext,
    model: CatalogModel,
    raw_input: Any,
    metadata: dict[str, Any] | None = None,
    callback_url: str | None = None,
    client_ref: str | None = None,
    input_loc: tuple[str, ...] = ("body", "input"),
    callback_format: str | None = None,
) -> RunRecord:
    """Validate `raw_input` against the model's schema and queue the run.

    Raises `ApiError` (422 with field errors under `input_loc`, 402) for the caller's
    error handler to render in whichever wire shape its route speaks.
    """
    try:
        validated = model.input_model.model_validate(raw_input)
    except ValidationError as exc:
        raise validation_error(field_errors(exc.errors(), input_loc)) from None
    stored_input = validated.model_dump(mode="json")
    problems = unstorable_values(stored_input, input_loc)
    problems += unstorable_values(metadata, (input_loc[0], "metadata"))
    problems += unstorable_values([callback_url, client_ref], (input_loc[0],))
    if problems:
        raise validation_error(problems)
    try:
        return store.create_run(
            auth.owner_id,
            model.id,
            stored_input,
            metadata=metadata,
            callback_url=callback_url,
            client_ref=client_ref,
            max_attempts=settings.max_attempts,
            estimated_cents=model.estimate_cents(validated),
            callback_format=callback_format,
        )
    except InsufficientCredit as exc:
        raise ApiError(
            402,
            "INSUFFICIENT_CREDIT",
            f"Insufficient credit: the run may cost up to {exc.required_cents} cents and "
            f"{max(exc.available_cents, 0)} cents are left.",
        ) from None
