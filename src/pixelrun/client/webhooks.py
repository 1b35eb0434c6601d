"""Verify Pixelrun callbacks on the receiving side. Standard library only, so that a
receiver can copy or import this module without the server's dependencies.

Two schemes arrive on every signed callback (docs/callbacks.md):
- ``Runflow-Signature``: hex HMAC-SHA256 of the body keyed with the ``whsec_…`` string.
- Standard Webhooks (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``): also
  binds a message id and a timestamp, so prefer it; it stops replays of old callbacks.

Pass the raw body bytes as received: re-serialising parsed JSON changes the bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_SECONDS = 300
# Bounds on attacker-controlled input, so a huge header cannot cost much CPU.
_MAX_SIGNATURES = 16
_MAX_HEADER_LENGTH = 4096


class WebhookVerificationError(Exception):
    """The callback is not authentic, is too old or too new, or is malformed."""


def verify_runflow_signature(body: bytes, header: str, secret: str) -> bool:
    """True when any comma-separated hex digest in ``Runflow-Signature`` matches the body."""
    if not _is_bytes(body) or not isinstance(header, str) or not isinstance(secret, str) or not secret:
        return False
    if len(header) > _MAX_HEADER_LENGTH:
        return False
    expected = hmac.new(secret.encode("utf-8"), bytes(body), hashlib.sha256).hexdigest().encode("ascii")
    candidates = header.split(",")
    if len(candidates) > _MAX_SIGNATURES:
        return False
    matched = False
    for candidate in candidates:
        text = candidate.strip().lower()
        if text.isascii():
            # No early exit: the time taken does not depend on which entry matched.
            matched |= hmac.compare_digest(expected, text.encode("ascii"))
    return matched


def verify_webhook(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: int | None = None,
) -> None:
    """Check the Standard Webhooks headers; raise WebhookVerificationError saying why not."""
    if not _is_bytes(body):
        raise WebhookVerificationError("body must be the raw bytes as received")
    key = _signing_key(secret)
    msg_id, timestamp_text, signature_header = _required_headers(headers)

    if not (timestamp_text.isascii() and timestamp_text.isdigit() and len(timestamp_text) <= 12):
        raise WebhookVerificationError("invalid webhook-timestamp")
    current = int(time.time()) if now is None else int(now)
    age = current - int(timestamp_text)
    if age > tolerance_seconds:
        raise WebhookVerificationError("message timestamp too old")
    if -age > tolerance_seconds:
        raise WebhookVerificationError("message timestamp too new")

    try:
        signed = msg_id.encode("utf-8") + b"." + timestamp_text.encode("ascii") + b"." + bytes(body)
    except UnicodeEncodeError as exc:  # lone surrogates: cannot be what was signed
        raise WebhookVerificationError("invalid webhook-id") from exc
    expected = hmac.new(key, signed, hashlib.sha256).digest()
    entries = signature_header.split()
    if len(entries) > _MAX_SIGNATURES:
        raise WebhookVerificationError("too many signatures")
    matched = False
    for entry in entries:
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue  # other versions are allowed by the spec and ignored
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise WebhookVerificationError("no matching signature")


def verify_standard_webhook(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: int | None = None,
) -> bool:
    """Like :func:`verify_webhook` but returns False instead of raising."""
    try:
        verify_webhook(body, headers, secret, tolerance_seconds=tolerance_seconds, now=now)
    except WebhookVerificationError:
        return False
    return True


def _required_headers(headers: Mapping[str, str]) -> tuple[str, str, str]:
    # HTTP header names are case-insensitive; web frameworks differ in what they hand over.
    try:
        lowered = {str(k).lower(): v for k, v in headers.items()}
    except Exception as exc:  # any object that is not a usable mapping is just bad input
        raise WebhookVerificationError("headers must be a mapping") from exc
    values = []
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        value = lowered.get(name)
        if not isinstance(value, str) or not value or len(value) > _MAX_HEADER_LENGTH:
            raise WebhookVerificationError(f"missing or invalid {name} header")
        values.append(value)
    return values[0], values[1], values[2]


def _signing_key(secret: str) -> bytes:
    if not isinstance(secret, str):
        raise WebhookVerificationError("secret must be the whsec_… string")
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        # Padding is optional in secrets copied by hand; the reference library accepts both.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WebhookVerificationError("secret is not whsec_ followed by base64") from exc
    if not key:
        raise WebhookVerificationError("secret is empty")
    return key


def _is_bytes(body: object) -> bool:
    return isinstance(body, bytes | bytearray | memoryview)
