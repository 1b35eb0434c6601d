"""Encoding of output images (jpeg, png, webp).

The settings are chosen for the worker's time budget (≤ 60 ms per megapixel, measured by
`bench/encode.py`): on a GPU an image computes in about a second, so Pillow's default PNG
(zlib level 6 with adaptive filters, ~100-600 ms at 1 MP depending on the machine) would
add half again. PNG is written by libpng through imagecodecs with OpenCV's fast settings
(zlib level 1, run-length strategy, the Sub filter): still lossless, about as small as
the default on photographic content, larger only on flat synthetic images. WEBP keeps
quality 95 and uses libwebp's fastest method, which changes the size, not the quality.
"""

from __future__ import annotations

import io
from typing import Literal, get_args

import imagecodecs
import numpy as np
from PIL import Image

OutputFormat = Literal["jpeg", "png", "webp"]
OUTPUT_FORMATS: tuple[str, ...] = get_args(OutputFormat)

_CONTENT_TYPES: dict[str, str] = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}

JPEG_QUALITY = 95
WEBP_QUALITY = 95
#: libwebp's effort, 0 (fastest) … 6; Pillow's default is 4.
WEBP_METHOD = 0
PNG_ZLIB_LEVEL = 1
PNG_STRATEGY = imagecodecs.PNG.STRATEGY.RLE
PNG_FILTER = imagecodecs.PNG.FILTER.SUB


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
    if fmt == "jpeg":
        # JPEG has no alpha and Pillow refuses RGBA/P for it.
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        buf = io.BytesIO()
        rgb.save(buf, format="JPEG", quality=JPEG_QUALITY)
        return buf.getvalue()
    if fmt == "webp":
        rgb = image if image.mode in ("RGB", "RGBA") else image.convert("RGB")
        buf = io.BytesIO()
        rgb.save(buf, format="WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
        return buf.getvalue()
    pixels = np.asarray(image if image.mode in ("RGB", "RGBA", "L") else image.convert("RGB"))
    return bytes(
        imagecodecs.png_encode(pixels, level=PNG_ZLIB_LEVEL, strategy=PNG_STRATEGY, filter=PNG_FILTER)
    )
