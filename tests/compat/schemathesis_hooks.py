"""Schemathesis hooks for Pixelrun (loaded through SCHEMATHESIS_HOOKS).

Image parts of multipart bodies are documented as `image/png`; random bytes cannot be a
PNG, so schema-valid requests get real (tiny, random) PNG files.
"""

from __future__ import annotations

import io

import schemathesis
from hypothesis import strategies as st
from PIL import Image


def _png(width: int, height: int, color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


PNGS = st.builds(
    _png,
    st.integers(16, 64),
    st.integers(16, 64),
    st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
)

schemathesis.openapi.media_type("image/png", PNGS)
