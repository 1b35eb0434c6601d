"""The run domain: statuses and transitions, ids and timestamps, pricing. Imports nothing of Pixelrun."""

from pixelrun.runs.assets import ASSET_URL_SCHEME, asset_url, is_asset_url, resolve_asset_url
from pixelrun.runs.callback_payload import CALLBACK_EVENTS, CallbackRun, build_callback_payload
from pixelrun.runs.ids import isoformat_utc, new_run_id, utc_now, uuid7_timestamp_ms
from pixelrun.runs.output import render_output
from pixelrun.runs.pricing import PRICE_PER_MEGAPIXEL, Pricing, estimate_cents, price_outputs
from pixelrun.runs.status import (
    LEASED_STATUSES,
    STATUS_DESCRIPTIONS,
    TERMINAL_STATUSES,
    FailureStage,
    RunStatus,
    can_transition,
)

__all__ = [
    "ASSET_URL_SCHEME",
    "CALLBACK_EVENTS",
    "LEASED_STATUSES",
    "PRICE_PER_MEGAPIXEL",
    "STATUS_DESCRIPTIONS",
    "TERMINAL_STATUSES",
    "CallbackRun",
    "FailureStage",
    "Pricing",
    "RunStatus",
    "asset_url",
    "build_callback_payload",
    "can_transition",
    "estimate_cents",
    "is_asset_url",
    "isoformat_utc",
    "new_run_id",
    "price_outputs",
    "render_output",
    "resolve_asset_url",
    "utc_now",
    "uuid7_timestamp_ms",
]
