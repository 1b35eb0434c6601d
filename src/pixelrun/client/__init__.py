"""Python client helpers for Pixelrun; nothing here imports the server."""

from pixelrun.client.webhooks import (
    WebhookVerificationError,
    verify_runflow_signature,
    verify_standard_webhook,
    verify_webhook,
)

__all__ = [
    "WebhookVerificationError",
    "verify_runflow_signature",
    "verify_standard_webhook",
    "verify_webhook",
]
