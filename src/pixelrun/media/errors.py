"""The one error type for untrusted image data."""

from __future__ import annotations


class ImageRejected(ValueError):
    """Input image data that Pixelrun refuses; ``reason`` is safe to show to the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
