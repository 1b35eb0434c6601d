"""callbacks"""

from pixelrun.callbacks.signing import (
    generate_secret,
    runflow_signature,
    standard_webhook_headers,
)

__all__ = ["generate_secret", "runflow_signature", "standard_webhook_headers"]
