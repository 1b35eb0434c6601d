"""Encoding of live previews (docs/api.md#previews): small JPEGs.

JPEG rather than WEBP: at these sizes (≤ 256 px) both come to a few KiB, and libjpeg
encodes about ten times faster than libwebp on the worker's CPU (`bench/previews.py`).
"""

from __future__ import annotations

import io
from typing import Final

from PIL import Image

PREVIEW_CONTENT_TYPE: Final = "image/jpeg"
PREVIEW_JPEG_QUALITY: Final = 75


def encode_preview(image: Image.Image) -> bytes:
    """A preview image as JPEG bytes, without metadata."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    buffer = io.BytesIO()
    rgb.save(buffer, format="JPEG", quality=PREVIEW_JPEG_QUALITY)
    return buffer.getvalue()
