"""The Pixelrun Python SDK (`Pixelrun`, `AsyncPixelrun`) and webhook verification helpers.

Nothing here imports the server (no torch, FastAPI or SQLAlchemy): `pip install pixelrun`
is enough.

    from pixelrun.client import Pixelrun
    px = Pixelrun()  # PIXELRUN_BASE_URL, PIXELRUN_API_KEY
    run = px.edit("make the sky orange", images=["photo.jpg"])
"""

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
from pixelrun.client.models import Asset, LogLine, OutputImage, Progress, Run, RunOutput, StreamEvent
from pixelrun.client.webhooks import (
    WebhookVerificationError,
    verify_runflow_signature,
    verify_standard_webhook,
    verify_webhook,
)

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
