"""The Pixelrun Python SDK (`Pixelrun`, `AsyncPixelrun`) and webhook verification helpers.

Nothing here imports the server (no torch, FastAPI or SQLAlchemy): `pip install pixelrun`
is enough.

    from pixelrun.client import Pixelrun
    px = Pixelrun()  # PIXELRUN_BASE_URL, PIXELRUN_API_KEY
    run = px.edit("make the sky orange", images=["photo.jpg"])

The SDK is loaded on first use (PEP 562), so a webhook receiver that imports only the
verification helpers loads nothing but the standard library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pixelrun.client.webhooks import (
    WebhookVerificationError,
    verify_runflow_signature,
    verify_standard_webhook,
    verify_webhook,
)

_LAZY: dict[str, str] = {
    "AsyncPixelrun": "pixelrun.client._async",
    "DEFAULT_MODEL": "pixelrun.client._core",
    "Pixelrun": "pixelrun.client._sync",
    "APIConnectionError": "pixelrun.client.errors",
    "APIError": "pixelrun.client.errors",
    "BadRequestError": "pixelrun.client.errors",
    "ConflictError": "pixelrun.client.errors",
    "InsufficientCreditError": "pixelrun.client.errors",
    "ModelNotFoundError": "pixelrun.client.errors",
    "ModelUnavailableError": "pixelrun.client.errors",
    "NotFoundError": "pixelrun.client.errors",
    "PayloadTooLargeError": "pixelrun.client.errors",
    "PixelrunError": "pixelrun.client.errors",
    "RateLimitedError": "pixelrun.client.errors",
    "RunCanceledError": "pixelrun.client.errors",
    "RunError": "pixelrun.client.errors",
    "RunFailedError": "pixelrun.client.errors",
    "RunNotFoundError": "pixelrun.client.errors",
    "UnauthorizedError": "pixelrun.client.errors",
    "UnavailableError": "pixelrun.client.errors",
    "ValidationError": "pixelrun.client.errors",
    "WaitTimeoutError": "pixelrun.client.errors",
    "Asset": "pixelrun.client.models",
    "LogLine": "pixelrun.client.models",
    "OutputImage": "pixelrun.client.models",
    "Preview": "pixelrun.client.models",
    "Progress": "pixelrun.client.models",
    "Run": "pixelrun.client.models",
    "RunOutput": "pixelrun.client.models",
    "StreamEvent": "pixelrun.client.models",
}

if TYPE_CHECKING:
    from pixelrun.client._async import AsyncPixelrun
    from pixelrun.client._core import DEFAULT_MODEL
    from pixelrun.client._sync import Pixelrun
    from pixelrun.client.errors import (
        APIConnectionError,
        APIError,
        BadRequestError,
        ConflictError,
        InsufficientCreditError,
        ModelNotFoundError,
        ModelUnavailableError,
        NotFoundError,
        PayloadTooLargeError,
        PixelrunError,
        RateLimitedError,
        RunCanceledError,
        RunError,
        RunFailedError,
        RunNotFoundError,
        UnauthorizedError,
        UnavailableError,
        ValidationError,
        WaitTimeoutError,
    )
    from pixelrun.client.models import (
        Asset,
        LogLine,
        OutputImage,
        Preview,
        Progress,
        Run,
        RunOutput,
        StreamEvent,
    )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pixelrun.client' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_MODEL",
    "APIConnectionError",
    "APIError",
    "Asset",
    "AsyncPixelrun",
    "BadRequestError",
    "ConflictError",
    "InsufficientCreditError",
    "LogLine",
    "ModelNotFoundError",
    "ModelUnavailableError",
    "NotFoundError",
    "OutputImage",
    "PayloadTooLargeError",
    "Pixelrun",
    "PixelrunError",
    "Preview",
    "Progress",
    "RateLimitedError",
    "Run",
    "RunCanceledError",
    "RunError",
    "RunFailedError",
    "RunNotFoundError",
    "RunOutput",
    "StreamEvent",
    "UnauthorizedError",
    "UnavailableError",
    "ValidationError",
    "WaitTimeoutError",
    "WebhookVerificationError",
    "verify_runflow_signature",
    "verify_standard_webhook",
    "verify_webhook",
]
