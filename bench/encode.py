"""Output encoding time and size at 1 MP: the current settings against the old ones.

The old settings (baseline, measured in the same run) were Pillow's: PNG at zlib level 6
with adaptive filters, WEBP quality 95 method 4, JPEG quality 95. Images: uniform noise
(the worst case for every encoder), a photo-like gradient with Gaussian noise, and a
smooth gradient (best case). Each cell is the median of --repeat encodes.

    .venv/bin/python bench/encode.py [--size 1024] [--repeat 7]
"""

from __future__ import annotations

import argparse
import functools
import io
import statistics
import time
from collections.abc import Callable

import numpy as np
from PIL import Image

from pixelrun.media import decode_image, encode_image


def baseline(image: Image.Image, fmt: str) -> bytes:
    """The encoder as it was before: Pillow's defaults."""
    buf = io.BytesIO()
    rgb = image.convert("RGB")
    if fmt == "jpeg":
        rgb.save(buf, format="JPEG", quality=95)
    elif fmt == "webp":
        rgb.save(buf, format="WEBP", quality=95)
    else:
        rgb.save(buf, format="PNG")
    return buf.getvalue()


def test_images(size: int) -> dict[str, Image.Image]:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    gradient = np.stack([(x / 4) % 256, (y / 4) % 256, ((x + y) / 8) % 256], axis=-1)
    photo = np.clip(gradient + rng.normal(0, 12, gradient.shape), 0, 255)
    return {
        "noisy": Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)),
        "photo-like": Image.fromarray(photo.astype(np.uint8)),
        "smooth": Image.fromarray(gradient.astype(np.uint8)),
    }


def measure(encode: Callable[[], bytes], repeat: int) -> tuple[float, int]:
    encode()  # warm-up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        data = encode()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), len(data)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1024, help="square image side in pixels")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(f"{args.size}x{args.size} RGB, median of {args.repeat}; target <= 60 ms per image at 1 MP\n")
    header = (
        f"{'image':<11} {'format':<6} {'old ms':>8} {'new ms':>8} {'speed-up':>8} {'old KB':>8} {'new KB':>8}"
    )
    print(header)
    print("-" * len(header))
    for name, image in test_images(args.size).items():
        for fmt in ("png", "webp", "jpeg"):
            old_ms, old_size = measure(functools.partial(baseline, image, fmt), args.repeat)
            new_ms, new_size = measure(functools.partial(encode_image, image, fmt), args.repeat)
            if fmt == "png":
                assert decode_image(encode_image(image, fmt)).tobytes() == image.tobytes(), "PNG not lossless"
            print(
                f"{name:<11} {fmt:<6} {old_ms:8.1f} {new_ms:8.1f} {old_ms / new_ms:7.1f}x "
                f"{old_size / 1024:8.0f} {new_size / 1024:8.0f}"
            )


if __name__ == "__main__":
    main()
