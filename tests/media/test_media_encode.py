from __future__ import annotations

import io

import pytest
from PIL import Image

from pixelrun.media import OUTPUT_FORMATS, content_type_for, decode_image, encode_image


@pytest.mark.parametrize(
    ("fmt", "pil_format", "content_type"),
    [("jpeg", "JPEG", "image/jpeg"), ("png", "PNG", "image/png"), ("webp", "WEBP", "image/webp")],
)
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P"])
def test_round_trip(fmt: str, pil_format: str, content_type: str, mode: str) -> None:
    image = Image.new("RGB", (24, 16), (200, 100, 50)).convert(mode)
    data = encode_image(image, fmt)
    assert content_type_for(fmt) == content_type
    with Image.open(io.BytesIO(data)) as reopened:
        assert reopened.format == pil_format
        assert reopened.size == (24, 16)
    assert decode_image(data).size == (24, 16)


def test_jpeg_quality_is_high() -> None:
    image = Image.new("RGB", (64, 64), (10, 200, 30))
    r, g, b = decode_image(encode_image(image, "jpeg")).getpixel((32, 32))  # type: ignore[misc]
    assert abs(r - 10) <= 3 and abs(g - 200) <= 3 and abs(b - 30) <= 3


def test_png_is_lossless() -> None:
    image = Image.frombytes("RGB", (16, 16), bytes(range(256)) * 3)
    assert decode_image(encode_image(image, "png")).tobytes() == image.tobytes()


def test_unknown_format() -> None:
    assert OUTPUT_FORMATS == ("jpeg", "png", "webp")
    with pytest.raises(ValueError, match="unknown output format 'gif'"):
        content_type_for("gif")
    with pytest.raises(ValueError):
        encode_image(Image.new("RGB", (1, 1)), "bmp")


def test_png_of_noise_is_lossless_in_every_mode() -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    for mode, shape in (("RGB", (33, 47, 3)), ("RGBA", (33, 47, 4)), ("L", (33, 47))):
        image = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)
        reopened = Image.open(io.BytesIO(encode_image(image, "png")))
        assert reopened.mode == mode
        assert reopened.tobytes() == image.tobytes()
