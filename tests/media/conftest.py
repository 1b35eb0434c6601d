"""A corpus of hostile and awkward image files, generated in memory."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image


def save(image: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **params)
    return buf.getvalue()


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width``x``height`` but whose data is a few bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _gradient16() -> bytes:
    # 0..65535 across 256 columns: clipping to 8 bits would turn almost all of it white.
    row = np.linspace(0, 65535, 256).astype(np.uint16)
    return save(Image.fromarray(np.tile(row, (8, 1))), "PNG")


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    return save(Image.new("RGB", (40, 20), (200, 10, 10)), "JPEG", exif=exif.tobytes())


def _animated_gif() -> bytes:
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    return save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)


def _palette_transparent() -> bytes:
    im = Image.new("P", (8, 8), 0)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * (254 * 3))
    im.putpixel((0, 0), 1)
    return save(im, "PNG", transparency=0)


def _rgba() -> bytes:
    im = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    im.putpixel((1, 1), (255, 0, 0, 255))
    im.putpixel((2, 2), (0, 0, 0, 128))
    return save(im, "PNG")


def _la() -> bytes:
    return save(Image.new("LA", (4, 4), (0, 0)), "PNG")


def _bitonal() -> bytes:
    im = Image.new("1", (9, 9), 0)
    im.putpixel((4, 4), 1)
    return save(im, "PNG")


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _noise_rgb(fmt: str) -> bytes:
    rng = np.random.default_rng(7)
    return save(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)), fmt)


BUILDERS: dict[str, Callable[[], bytes]] = {
    "png": lambda: save(Image.new("RGB", (32, 24), (1, 2, 3)), "PNG"),
    "jpeg": lambda: _noise_rgb("JPEG"),
    "webp": lambda: save(Image.new("RGB", (16, 16), (9, 9, 9)), "WEBP"),
    "bmp": lambda: save(Image.new("RGB", (5, 7), (0, 128, 255)), "BMP"),
    "tiff": lambda: save(Image.new("RGB", (6, 6), (1, 1, 1)), "TIFF"),
    "truncated_png": lambda: _truncated(_noise_rgb("PNG")),
    "truncated_jpeg": lambda: _truncated(_noise_rgb("JPEG")),
    "random_bytes": lambda: np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
    "zero_bytes": lambda: b"\x00" * 1024,
    "empty": lambda: b"",
    "png_header_bomb": lambda: png_claiming(100_000, 100_000),
    # Between Pillow's warning and error thresholds: its DecompressionBombWarning path.
    "png_header_100mp": lambda: png_claiming(10_000, 10_000),
    "huge_pixels_small_file": lambda: save(Image.new("1", (7000, 7000), 0), "PNG"),
    "animated_gif": _animated_gif,
    "exif_orientation_6": _exif_rotated,
    "cmyk_jpeg": lambda: save(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG"),
    "png16_gradient": _gradient16,
    "palette_transparency": _palette_transparent,
    "rgba": _rgba,
    "la": _la,
    "bitonal": _bitonal,
    "grayscale": lambda: save(Image.new("L", (3, 3), 77), "PNG"),
    "tiny_1x1": lambda: save(Image.new("RGB", (1, 1), (4, 5, 6)), "PNG"),
    "svg": lambda: b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
    "text": lambda: b"hello, this is not an image\n" * 10,
    "html": lambda: b"<!DOCTYPE html><html><body><img src=x></body></html>",
    "ico": lambda: save(Image.new("RGB", (16, 16), (1, 2, 3)), "ICO"),
    "psd_header": lambda: b"8BPS\x00\x01" + b"\x00" * 64,
    "pdf": lambda: save(Image.new("RGB", (8, 8)), "PDF"),
    "ppm": lambda: save(Image.new("RGB", (8, 8)), "PPM"),
    "garbage_after_png_signature": lambda: b"\x89PNG\r\n\x1a\n" + b"\xff" * 100,
    "gif_header_only": lambda: b"GIF89a\x10\x00\x10\x00",
    "float_tiff": lambda: save(
        Image.fromarray(np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)), "TIFF"
    ),
}


@pytest.fixture(scope="session")
def corpus() -> dict[str, bytes]:
    return {name: build() for name, build in BUILDERS.items()}


@pytest.fixture(name="png_claiming")
def png_claiming_fixture() -> Callable[[int, int], bytes]:
    return png_claiming
