"""Encoding of output images (jpeg, png, webp)."""

from __future__ import annotations

import io
from typing import Literal, get_args

from PIL import Image

OutputFormat = Literal["jpeg", "png", "webp"]
OUTPUT_FORMATS: tuple[str, ...] = get_args(OutputFormat)

_CONTENT_TYPES: dict[str, str] = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def content_type_for(fmt: str) -> str:
    """MIME type of an output format; ``ValueError`` for an unknown one."""
    try:
        return _CONTENT_TYPES[fmt]
    except KeyError:
        expected = ", ".join(OUTPUT_FORMATS)
        raise ValueError(f"unknown output format {fmt!r}; expected one of {expected}") from None


def encode_image(image: Image.Image, fmt: str) -> bytes:
    """Encode ``image`` as ``fmt``; no metadata is written (outputs carry no EXIF/ICC of inputs)."""
    content_type_for(fmt)  # validates fmt
    if fmt == "jpeg" and image.mode != "RGB":
        # JPEG has no alpha and Pillow refuses RGBA/P for it.
        image = image.convert("RGB")
    elif image.mode not in ("RGB", "RGBA", "L"):
        image = image.convert("RGB")
    buf = io.BytesIO()
    if fmt == "jpeg":
        image.save(buf, format="JPEG", quality=95)
    elif fmt == "webp":
        image.save(buf, format="WEBP", quality=95)
    else:
        image.save(buf, format="PNG")
    return buf.getvalue()
