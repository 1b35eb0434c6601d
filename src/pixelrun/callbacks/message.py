"""The bytes and headers of one callback attempt (docs/callbacks.md).

The body is serialised once, at the first attempt, and stored; retries send the stored
text, so every attempt carries the same bytes and the same `Runflow-Signature`. The
Standard Webhooks signature also covers `webhook-timestamp`, which is each attempt's
own send time, so that one is computed per attempt.
"""

from __future__ import annotations

import json
from typing import Any

from pixelrun.callbacks.signing import runflow_signature, standard_webhook_headers


def encode_body(payload: dict[str, Any]) -> str:
    """Compact JSON text; non-ASCII stays as UTF-8 (the receiver verifies the raw bytes)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def callback_headers(
    request_id: str, webhook_id: str, body: bytes, secrets: list[str], timestamp: int
) -> dict[str, str]:
    """Headers of one attempt; signatures only when the owner has active secrets."""
    headers = {
        "Content-Type": "application/json",
        "Runflow-Request-Id": request_id,
        # Sent unsigned too: receivers may deduplicate on it whether or not they verify.
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
    }
    if secrets:
        headers["Runflow-Signature"] = runflow_signature(body, secrets)
        headers.update(standard_webhook_headers(webhook_id, timestamp, body, secrets))
    return headers
