"""Decoding of untrusted input images into plain RGB, with limits checked before decoding."""

from __future__ import annotations

import io
import re
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pixelrun.media.errors import ImageRejected

DEFAULT_MAX_PIXELS = 40_000_000

# Pillow names; MPO is what Pillow calls a JPEG that carries multi-picture data (phone cameras).
ALLOWED_FORMATS: frozenset[str] = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF", "GIF"})
# Only these plugins ever parse the bytes: exotic decoders are never reached by untrusted input.
_OPEN_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")

# The media type of each allowed format, for files whose type the bytes decide (POST /v1/files).
_MEDIA_TYPES: dict[str, str] = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
    "GIF": "image/gif",
}

_ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})

# Recognised only to name a refused format in the message; these bytes never reach a decoder.
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x00\x00\x01\x00", 0, "ICO"),
    (b"\x00\x00\x02\x00", 0, "CUR"),
    (b"8BPS", 0, "PSD"),
    (b"%PDF", 0, "PDF"),
    (b"%!PS", 0, "PostScript/EPS"),
    (b"ftypheic", 4, "HEIC"),
    (b"ftypheix", 4, "HEIC"),
    (b"ftypmif1", 4, "HEIF"),
    (b"ftypavif", 4, "AVIF"),
    (b"\x00\x00\x00\x0cjP  ", 0, "JPEG 2000"),
    (b"\xff\x4f\xff\x51", 0, "JPEG 2000"),
    (b"\xff\x0a", 0, "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL ", 0, "JPEG XL"),
    (b"DDS ", 0, "DDS"),
    (b"qoif", 0, "QOI"),
    (b"icns", 0, "ICNS"),
    (b"gimp xcf", 0, "XCF"),
)
_TEXT_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"<svg", "SVG"),
    (b"<?xml", "XML/SVG"),
    (b"<!doctype", "HTML"),
    (b"<html", "HTML"),
    (b"{", "JSON"),
)
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


def _mp(pixels: int) -> str:
    return f"{pixels / 1_000_000:.1f} MP"


def _limit_mp(max_pixels: int) -> str:
    return f"{max_pixels / 1_000_000:g} MP"


def _sniff(data: bytes) -> str | None:
    for magic, offset, name in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return name
    if re.match(rb"P[1-7]\s", data[:3]):
        return "PNM"
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    for prefix, name in _TEXT_PREFIXES:
        if head.startswith(prefix):
            return name
    if head.startswith(b"<") and b"<svg" in head:
        return "SVG"
    return None


def _bomb(exc: Exception, max_pixels: int) -> ImageRejected:
    """Pillow's own bomb check fired (its limit is above ours only for large ``max_pixels``)."""
    match = _BOMB_PIXELS.search(str(exc))
    pixels = int(match.group(1)) if match else None
    if pixels is None or pixels > max_pixels:
        size = _mp(pixels) if pixels is not None else "too many pixels"
        return ImageRejected(f"image is {size}, over the {_limit_mp(max_pixels)} limit (decompression bomb)")
    limit = _mp(2 * (Image.MAX_IMAGE_PIXELS or 0))
    return ImageRejected(f"image is {_mp(pixels)}, over Pillow's decompression-bomb limit of {limit}")


def _open(data: bytes, max_pixels: int) -> Image.Image:
    try:
        im = Image.open(io.BytesIO(data), formats=_OPEN_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb(exc, max_pixels) from None
    except UnidentifiedImageError:
        name = _sniff(data)
        if name is not None:
            raise ImageRejected(
                f"format {name} is not allowed (allowed: JPEG, PNG, WEBP, BMP, TIFF, GIF)"
            ) from None
        raise ImageRejected("not an image (unrecognised data)") from None
    except Exception as exc:  # a plugin choking on a malformed header
        raise ImageRejected(f"truncated or corrupt image data: {exc}") from None
    if im.format not in ALLOWED_FORMATS:
        raise ImageRejected(f"format {im.format} is not allowed (allowed: JPEG, PNG, WEBP, BMP, TIFF, GIF)")
    width, height = im.size
    if width <= 0 or height <= 0:
        raise ImageRejected(f"image has an empty size {width}x{height}")
    if width * height > max_pixels:
        raise ImageRejected(
            f"image is {width}x{height} = {_mp(width * height)}, over the {_limit_mp(max_pixels)} limit"
        )
    return im


def _to_8bit_rgb(im: Image.Image) -> Image.Image:
    """Scale high bit-depth grayscale to 8 bits (keeping the full range, not clipping at 255)."""
    arr = np.asarray(im)
    if im.mode.startswith("I;16"):
        scaled = arr.astype(np.float32) / 257.0
    else:
        values = arr.astype(np.float64)
        if im.mode == "F":
            values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(values.min()), float(values.max())
        if im.mode == "F" and lo >= 0.0 and hi <= 1.0:
            scaled = values * 255.0  # float images are conventionally 0..1
        elif im.mode == "I" and lo >= 0 and hi <= 65535:
            scaled = values / 257.0  # 32-bit container of 16-bit samples (older PNG/TIFF paths)
        elif hi > lo:
            scaled = (values - lo) * (255.0 / (hi - lo))
        else:
            scaled = np.zeros_like(values)
    gray = Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")
    return gray.convert("RGB")


def _flatten_to_rgb(im: Image.Image) -> Image.Image:
    """Convert any decoded mode to RGB; transparency is composited onto white."""
    mode = im.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _to_8bit_rgb(im)
    if mode in _ALPHA_MODES or "transparency" in im.info:
        rgba = im.convert("RGBA")
        out = Image.new("RGB", rgba.size, (255, 255, 255))
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    return im.convert("RGB")


def _decode(data: bytes, max_pixels: int) -> Image.Image:
    im = _open(data, max_pixels)
    try:
        try:
            im.load()  # first frame only; a full load surfaces truncation now, not later
        except ImageRejected:
            raise
        except Exception as exc:
            raise ImageRejected(f"truncated or corrupt image data: {exc}") from None
        try:
            oriented = ImageOps.exif_transpose(im)
        except Exception:
            # Broken EXIF must not reject an image whose pixels decoded fine.
            oriented = im
        try:
            rgb = _flatten_to_rgb(oriented)
        except Exception as exc:
            raise ImageRejected(f"unsupported color mode {oriented.mode}: {exc}") from None
    finally:
        im.close()
    if rgb.mode != "RGB":  # defensive; every path above ends in RGB
        raise ImageRejected(f"unsupported color mode {rgb.mode}")
    return rgb


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode untrusted bytes into an RGB image or raise ``ImageRejected`` with a human reason.

    Only JPEG, PNG, WEBP, BMP, TIFF and GIF are parsed; the pixel count is checked from the
    header before any pixel is decoded; animated images give their first frame; EXIF
    orientation is applied.
    """
    if not data:
        raise ImageRejected("not an image (empty data)")
    with warnings.catch_warnings():
        # Pillow's bomb warning becomes a rejection; its other warnings (odd metadata, palette
        # notes) must not turn into crashes where warnings are configured as errors.
        warnings.simplefilter("ignore")
        if Image.MAX_IMAGE_PIXELS is None or max_pixels <= Image.MAX_IMAGE_PIXELS:
            # Pillow warns only above its own limit, which is then above ours: reject.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return _decode(data, max_pixels)
        except ImageRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _bomb(exc, max_pixels) from None
        except MemoryError:
            raise ImageRejected("image needs too much memory to decode") from None
        except Exception as exc:  # the contract: untrusted data never raises anything else
            raise ImageRejected(f"truncated or corrupt image data: {exc}") from None


def image_media_type(data: bytes) -> str | None:
    """The media type of an allowed image format (read from the header only), else None.

    Says what the bytes are, not whether they decode: `decode_image` is the check."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(data), formats=_OPEN_FORMATS) as im:
                return _MEDIA_TYPES.get(str(im.format))
        except Exception:  # untrusted bytes: anything unreadable is simply not an image
            return None
