"""Sender side of callback signatures (docs/callbacks.md): ``Runflow-Signature`` and Standard Webhooks.

Both are computed over the exact body bytes that are sent; the body is frozen at the
first attempt, so every retry carries the same signatures.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _random

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def generate_secret() -> str:
    """A new callback secret as shown to the user once: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(SECRET_BYTES)).decode("ascii")


def runflow_signature(body: bytes, secrets: list[str]) -> str:
    """``Runflow-Signature`` value: hex HMAC-SHA256 per secret, comma-separated (rotation).

    The key is the UTF-8 of the whole ``whsec_…`` string, as the hosted API does, so
    receivers written for it need no change.
    """
    _require_secrets(secrets)
    return ",".join(
        hmac.new(secret.encode("utf-8"), bytes(body), hashlib.sha256).hexdigest() for secret in secrets
    )


def standard_webhook_headers(msg_id: str, timestamp: int, body: bytes, secrets: list[str]) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` per the Standard Webhooks spec.

    The key is the base64-decoded part after ``whsec_``; one ``v1,<base64>`` entry per
    secret, space-separated.
    """
    _require_secrets(secrets)
    if not msg_id or not msg_id.isascii() or not msg_id.isprintable() or " " in msg_id:
        # It goes into a header and into the signed content; keep it unambiguous there.
        raise ValueError(f"invalid webhook message id: {msg_id!r}")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or timestamp < 0:
        raise ValueError("timestamp must be a non-negative int (unix seconds)")
    signed = f"{msg_id}.{timestamp}.".encode() + bytes(body)
    signatures = " ".join(
        "v1," + base64.b64encode(hmac.new(_signing_key(s), signed, hashlib.sha256).digest()).decode("ascii")
        for s in secrets
    )
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signatures}


def _signing_key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("callback secret is not whsec_ followed by base64") from exc
    if not key:
        raise ValueError("callback secret is empty")
    return key


def _require_secrets(secrets: list[str]) -> None:
    if not secrets:
        raise ValueError("at least one secret is needed to sign")
