"""Output-size rules, kept identical to the diffusers pipeline's own arithmetic."""

from __future__ import annotations

import math

#: The pipeline's default output area (≈1 megapixel) when no size is requested.
DEFAULT_AREA = 1024 * 1024
#: Sides of the latent grid are a multiple of this (VAE factor 8 × 2×2 patches).
MULTIPLE_OF = 16


def dimensions_for_area(area: int, aspect_ratio: float) -> tuple[int, int]:
    """(width, height) of about `area` pixels at `aspect_ratio`, rounded to multiples of 32.

    Same arithmetic as `calculate_dimensions` in diffusers' Qwen edit pipelines.
    """
    width = math.sqrt(area * aspect_ratio)
    height = width / aspect_ratio
    return round(width / 32) * 32, round(height / 32) * 32


def output_size(requested: tuple[int, int] | None, last_image_size: tuple[int, int]) -> tuple[int, int]:
    """The (width, height) the pipeline will produce for a request."""
    if requested is None:
        width, height = dimensions_for_area(DEFAULT_AREA, last_image_size[0] / last_image_size[1])
    else:
        width, height = requested
    return width // MULTIPLE_OF * MULTIPLE_OF, height // MULTIPLE_OF * MULTIPLE_OF
