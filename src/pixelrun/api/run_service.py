"""The one way a run enters the system.

Every create route (the native one and the OpenAI / Replicate translators) reads its
wire shape into a `RunRequest` and goes through `submit`: one run path, one set of
checks, whatever the wire shape outside. Runs leave through `RunPresenter`.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from fastapi import Request
from pydantic import ValidationError

from pixelrun.api.asset_service import asset_reference_errors, asset_urls_in
from pixelrun.api.errors import ApiError, field_errors, validation_error
from pixelrun.api.inline_images import (
    decode_inline_images,
    discard_inline_images,
    inline_image_problems,
    inline_urls,
    store_inline_images,
)
from pixelrun.api.models_catalog import CatalogModel
from pixelrun.api.wire import json_limit_errors, unstorable_values
from pixelrun.config import Settings
from pixelrun.runs import micros_to_usd, utc_now
from pixelrun.store import (
    MAX_IDEMPOTENCY_KEY_LENGTH,
    AssetRecord,
    AuthContext,
    IdempotencyConflict,
    InsufficientCredit,
    NewRun,
    RunRecord,
    Store,
    request_hash,
)

if TYPE_CHECKING:
    from pixelrun.api.services import Services

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
CANCEL_AFTER_HEADER = "Cancel-After"
# `90s`, `5m`, `1h`, or combined like `1h30m`; at most a week.
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
MAX_CANCEL_AFTER = timedelta(days=7)


@dataclass(frozen=True)
class CreateOptions:
    """The create headers (docs/api.md, "Retries and deadlines"), read once by every create route."""

    idempotency_key: str | None = None
    cancel_after: timedelta | None = None

    @classmethod
    def from_request(cls, request: Request) -> CreateOptions:
        """Parse `Idempotency-Key` and `Cancel-After`; 422 VALIDATION_ERROR when malformed."""
        problems: list[dict[str, Any]] = []
        key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
        if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
            problems.append(
                _header_problem(
                    IDEMPOTENCY_KEY_HEADER, f"must have 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters"
                )
            )
        raw_deadline = request.headers.get(CANCEL_AFTER_HEADER)
        cancel_after = None
        if raw_deadline is not None:
            cancel_after = parse_duration(raw_deadline)
            if cancel_after is None:
                problems.append(
                    _header_problem(
                        CANCEL_AFTER_HEADER,
                        "must be a duration like 90s, 5m, 1h or 1h30m, from 1 second to 7 days",
                    )
                )
        if problems:
            raise validation_error(problems)
        return cls(idempotency_key=key, cancel_after=cancel_after)


def _header_problem(name: str, message: str) -> dict[str, Any]:
    return {"loc": ["header", name], "msg": message, "type": "value_error"}


def parse_duration(text: str) -> timedelta | None:
    """`90s`, `5m`, `1h`, `1h30m` as a timedelta; None when malformed or out of range."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or not any(match.groups()):
        return None
    hours, minutes, seconds = (int(group or 0) for group in match.groups())
    duration = timedelta(hours=hours, minutes=minutes, seconds=seconds)
    if not timedelta(seconds=1) <= duration <= MAX_CANCEL_AFTER:
        return None
    return duration


@dataclass(frozen=True)
class Submission:
    """A create's outcome: the run and the status code to answer with.

    `replayed` is True when an earlier create with the same `Idempotency-Key` made the
    run; the answer then carries that create's status code and `Idempotent-Replayed: true`.
    """

    run: RunRecord
    status_code: int = 201
    replayed: bool = False
    # Read with the create; pass it on to `presenter.present(..., queue_position=...)`.
    queue_position: int | None = None

    def headers(self) -> dict[str, str]:
        return {REPLAYED_HEADER: "true"} if self.replayed else {}


@dataclass(frozen=True)
class RunRequest:
    """One create, as each create route reads it from its own wire shape."""

    auth: AuthContext
    model: CatalogModel
    input: Any
    metadata: dict[str, Any] | None = None
    callback_url: str | None = None
    client_ref: str | None = None
    #: How the run's callback body is shaped (None: the native run object).
    callback_format: str | None = None
    #: The webhook events the callback receives (`runs.format_webhook_events`; None: the terminal one).
    callback_events: str | None = None
    #: `Idempotency-Key` and `Cancel-After` (`CreateOptions.from_request`).
    options: CreateOptions = CreateOptions()
    #: Where the input sits in the route's body: 422 errors name fields under it.
    input_loc: tuple[str, ...] = ("body", "input")
    #: What the route answers for a new run, remembered for idempotent replays.
    status_code: int = 201


async def submit(services: Services, request: RunRequest) -> Submission:
    """Rate-limit, validate the input against the model's schema and queue the run.

    Raises `ApiError` (429, 422 with field errors under `input_loc`, 409, 402) for the
    caller's error handler to render in whichever wire shape its route speaks; 503
    `MODEL_UNAVAILABLE` when no live worker can serve the model after the grace period.

    A coroutine: the checks run on the loop and the store is reached only when needed
    (the rate limit, asset URLs, a stale worker count: in a thread; the create itself:
    awaited from the committer thread). A hop to a thread per create cost more CPU than
    the checks.
    """
    store, settings, auth, model = services.store, services.settings, request.auth, request.model
    options, input_loc = request.options, request.input_loc
    metadata, callback_url, client_ref = request.metadata, request.callback_url, request.client_ref
    if settings.rate_limit_per_minute is not None:
        await anyio.to_thread.run_sync(_check_rate_limit, store, settings, auth)
    try:
        validated = model.input_model.model_validate(request.input)
    except ValidationError as exc:
        raise validation_error(field_errors(exc.errors(), input_loc)) from None
    stored_input = validated.model_dump(mode="json")
    # Depth and size first: nothing a create stores may make a later read or stream fail.
    depth = settings.max_json_depth
    problems = json_limit_errors(stored_input, input_loc, max_depth=depth)
    problems += json_limit_errors(
        metadata, (input_loc[0], "metadata"), max_depth=depth, max_bytes=settings.max_metadata_bytes
    )
    if problems:
        raise validation_error(problems)
    problems = unstorable_values(stored_input, input_loc)
    problems += unstorable_values(metadata, (input_loc[0], "metadata"))
    problems += unstorable_values([callback_url, client_ref], (input_loc[0],))
    if problems:
        raise validation_error(problems)
    # Uploaded assets are owner-scoped: another owner's (or a deleted) asset is refused here.
    assets = asset_urls_in(stored_input, input_loc)
    if assets:
        problems = await anyio.to_thread.run_sync(asset_reference_errors, store, auth.owner_id, assets)
        if problems:
            raise validation_error(problems)
    # Inline images: over the size limit is a 422 from the base64 length, before anything is stored.
    inline = inline_urls(stored_input)
    if inline:
        problems = inline_image_problems(inline, settings.max_image_bytes, input_loc)
        if problems:
            raise validation_error(problems)
    estimated_micros = model.estimate_micros(validated)
    gate = services.model_gate
    if gate.check_reads_store(model.id):
        await anyio.to_thread.run_sync(gate.check, model.id)
    else:
        gate.check(model.id)
    digest = ""
    if options.idempotency_key is not None:
        # The request as sent (inline images included, not the assets they become below),
        # plus the deadline asked for: a replay must repeat both.
        digest = request_hash(
            {
                "model": model.id,
                "input": stored_input,
                "metadata": metadata,
                "callback_url": callback_url,
                "client_ref": client_ref,
                "cancel_after": options.cancel_after.total_seconds() if options.cancel_after else None,
                # Only when set: keys stored before webhook events existed keep their hash.
                **({"callback_events": request.callback_events} if request.callback_events else {}),
            }
        )
    run_input, inline_assets = stored_input, []
    if inline:
        run_input, inline_assets = await anyio.to_thread.run_sync(
            _store_inline_images, services, auth.owner_id, stored_input, inline, input_loc
        )
    new_run = NewRun(
        owner_id=auth.owner_id,
        model_id=model.id,
        input=run_input,
        metadata=metadata,
        callback_url=callback_url,
        client_ref=client_ref,
        max_attempts=settings.max_attempts,
        deadline_at=utc_now() + options.cancel_after if options.cancel_after is not None else None,
        callback_format=request.callback_format,
        callback_events=request.callback_events,
    )
    try:
        try:
            created = await asyncio.wrap_future(
                store.runs.create_future(
                    new_run,
                    key=options.idempotency_key,
                    request_digest=digest,
                    status_code=request.status_code,
                    estimated_micros=estimated_micros,
                )
            )
        except (IdempotencyConflict, InsufficientCredit):
            # Refused for sure, so no run names them. (After any other error, or a canceled
            # request, the run may exist: its images stay, as assets retention deletes.)
            await _discard(services, inline_assets)
            raise
        if created.replayed:
            await _discard(services, inline_assets)  # the first create's run has its own copies
        return Submission(created.run, created.status_code, created.replayed, created.queue_position)
    except IdempotencyConflict as exc:
        raise ApiError(
            409,
            "CONFLICT",
            f"Idempotency-Key {exc.key!r} was already used for a different request (run {exc.run_id}); "
            "use a new key for a new request.",
        ) from None
    except InsufficientCredit as exc:
        raise ApiError(
            402,
            "INSUFFICIENT_CREDIT",
            f"Insufficient credit: the run may cost up to ${micros_to_usd(exc.required_micros)} "
            f"and ${micros_to_usd(max(exc.available_micros, 0))} is left.",
        ) from None


def _store_inline_images(
    services: Services,
    owner_id: str,
    stored_input: dict[str, Any],
    inline: list[tuple[int, str]],
    input_loc: tuple[str, ...],
) -> tuple[dict[str, Any], list[AssetRecord]]:
    images, problems = decode_inline_images(inline, services.settings.max_image_bytes, input_loc)
    if problems:
        raise validation_error(problems)
    return store_inline_images(services.store, services.storage, owner_id, stored_input, images)


async def _discard(services: Services, assets: list[AssetRecord]) -> None:
    if assets:
        await anyio.to_thread.run_sync(discard_inline_images, services.store, services.storage, assets)


def _check_rate_limit(store: Store, settings: Settings, auth: AuthContext) -> None:
    limit = settings.rate_limit_per_minute
    if limit is None:
        return
    decision = store.rate_limits.hit(auth.key_id, limit, window_seconds=settings.rate_limit_window_seconds)
    if not decision.allowed:
        raise ApiError(
            429,
            "RATE_LIMITED",
            f"Rate limit of {limit} creates per {settings.rate_limit_window_seconds} s for this API key reached; "
            f"retry in {decision.retry_after_seconds} s.",
            headers={"Retry-After": str(decision.retry_after_seconds)},
        )
