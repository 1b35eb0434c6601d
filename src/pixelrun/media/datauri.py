"""``data:image/...;base64,`` URIs, with the size checked before anything is decoded."""

from __future__ import annotations

import base64
import binascii
import re

from pixelrun.media.errors import ImageRejected

# The header ("data:image/png;name=x;base64") is short; bounding the search for the comma keeps
# a multi-megabyte URI without one from being scanned.
_MAX_HEADER = 256
_MEDIA_TYPE = re.compile(r"image/[a-z0-9][a-z0-9.+-]{0,63}")
_WHITESPACE = re.compile(r"[ \t\r\n]+")


def to_data_uri(data: bytes, content_type: str) -> str:
    """``data:<content_type>;base64,<data>``."""
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"


def _size_mb(n: int) -> str:
    return f"{n / 1_000_000:g} MB"


def parse_data_uri(uri: str, *, max_bytes: int) -> tuple[str, bytes]:
    """Return ``(content_type, data)`` of a base64 image data URI or raise ``ImageRejected``."""
    if uri[:5].lower() != "data:":
        raise ImageRejected("not a data: URI")
    comma = uri.find(",", 5, _MAX_HEADER)
    if comma < 0:
        raise ImageRejected("malformed data: URI (no ',' after the media type)")
    params = [p.strip() for p in uri[5:comma].split(";")]
    media_type = params[0].lower()
    if not _MEDIA_TYPE.fullmatch(media_type):
        raise ImageRejected(f"data: URI media type {params[0]!r} is not image/*")
    if params[-1].lower() != "base64" or len(params) < 2:
        raise ImageRejected("data: URI must be base64-encoded (data:image/...;base64,...)")
    payload = uri[comma + 1 :]
    # Upper bound of the decoded size from the encoded length, so oversized input is refused
    # without allocating the decoded bytes.
    estimated = len(payload) // 4 * 3
    if estimated > max_bytes + 2:
        raise ImageRejected(
            f"data: URI image is about {_size_mb(estimated)}, over the {_size_mb(max_bytes)} limit"
        )
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        # Base64 wrapped in lines (MIME style, 76 columns) is common: whitespace is dropped,
        # anything else outside the alphabet is still refused.
        unwrapped = _WHITESPACE.sub("", payload)
        try:
            if unwrapped == payload:
                raise
            data = base64.b64decode(unwrapped, validate=True)
        except (binascii.Error, ValueError):
            raise ImageRejected(f"data: URI has invalid base64: {exc}") from None
    if len(data) > max_bytes:
        raise ImageRejected(f"data: URI image is {_size_mb(len(data))}, over the {_size_mb(max_bytes)} limit")
    if not data:
        raise ImageRejected("data: URI is empty")
    return media_type, data
