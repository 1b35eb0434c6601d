"""The run domain: statuses and transitions, ids and timestamps, pricing. Imports nothing of Pixelrun."""

from pixelrun.runs.assets import ASSET_URL_SCHEME, asset_url, is_asset_url, resolve_asset_url
from pixelrun.runs.callback_payload import CALLBACK_EVENTS, CallbackRun, build_callback_payload
from pixelrun.runs.ids import isoformat_utc, new_run_id, utc_now, uuid7_timestamp_ms
from pixelrun.runs.output import render_output
from pixelrun.runs.prediction import (
    PREDICTION_CALLBACK_FORMAT,
    PREDICTION_STATUS,
    PredictionRun,
    build_prediction,
    prediction_as_of,
    prediction_output,
    prediction_urls,
)
from pixelrun.runs.pricing import (
    MICROS_PER_USD,
    PRICE_PER_MEGAPIXEL,
    Pricing,
    estimate_micros,
    micros_to_cents,
    micros_to_usd,
    price_outputs,
    usd_to_micros,
)
from pixelrun.runs.status import (
    LEASED_STATUSES,
    STATUS_DESCRIPTIONS,
    TERMINAL_STATUSES,
    FailureStage,
    RunStatus,
    can_transition,
)
from pixelrun.runs.webhook_events import (
    ALL_WEBHOOK_EVENTS,
    NON_TERMINAL_INTERVAL,
    WebhookEvent,
    format_webhook_events,
    wants_webhook_event,
)

__all__ = [
    "ALL_WEBHOOK_EVENTS",
    "ASSET_URL_SCHEME",
    "CALLBACK_EVENTS",
    "LEASED_STATUSES",
    "MICROS_PER_USD",
    "NON_TERMINAL_INTERVAL",
    "PREDICTION_CALLBACK_FORMAT",
    "PREDICTION_STATUS",
    "PRICE_PER_MEGAPIXEL",
    "STATUS_DESCRIPTIONS",
    "TERMINAL_STATUSES",
    "CallbackRun",
    "FailureStage",
    "PredictionRun",
    "Pricing",
    "RunStatus",
    "WebhookEvent",
    "asset_url",
    "build_callback_payload",
    "build_prediction",
    "can_transition",
    "estimate_micros",
    "format_webhook_events",
    "is_asset_url",
    "isoformat_utc",
    "micros_to_cents",
    "micros_to_usd",
    "new_run_id",
    "prediction_as_of",
    "prediction_output",
    "prediction_urls",
    "price_outputs",
    "render_output",
    "resolve_asset_url",
    "usd_to_micros",
    "utc_now",
    "uuid7_timestamp_ms",
    "wants_webhook_event",
]
