"""Callbacks: signing, the retry policy, the wire form of an attempt, and the outbox dispatcher."""

from pixelrun.callbacks.dispatcher import CallbackDispatcher
from pixelrun.callbacks.message import callback_headers, encode_body
from pixelrun.callbacks.policy import MAX_ATTEMPTS, RETRY_WAITS, Decision, decide, retry_wait
from pixelrun.callbacks.signing import (
    generate_secret,
    runflow_signature,
    standard_webhook_headers,
)

__all__ = [
    "MAX_ATTEMPTS",
    "RETRY_WAITS",
    "CallbackDispatcher",
    "Decision",
    "callback_headers",
    "decide",
    "encode_body",
    "generate_secret",
    "retry_wait",
    "runflow_signature",
    "standard_webhook_headers",
]
