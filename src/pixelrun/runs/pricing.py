"""Pricing: $0.03 per output megapixel (docs/api.md#run-object)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

PRICE_PER_MEGAPIXEL = Decimal("0.03")
_SIX_PLACES = Decimal("0.000001")
_CENTS = Decimal("0.01")


def _money_str(value: Decimal) -> str:
    return format(value, "f")


def _to_cents(cost: Decimal) -> int:
    # Cents in the store are whole; any fraction of a cent is charged as a full cent.
    return int((cost / _CENTS).to_integral_value(rounding=ROUND_CEILING))


@dataclass(frozen=True)
class Pricing:
    cost: Decimal
    breakdown: list[dict[str, Any]] = field(default_factory=list)

    @property
    def cost_str(self) -> str:
        """The wire cost: a decimal string with 6 places, e.g. "0.031457"."""
        return _money_str(self.cost)

    @property
    def cost_cents(self) -> int:
        """The amount debited from the owner's credit, in whole cents (rounded up)."""
        return _to_cents(self.cost)


def _output_cost(pixels: int) -> Decimal:
    return PRICE_PER_MEGAPIXEL * Decimal(pixels) / Decimal(1_000_000)


def price_outputs(sizes: list[tuple[int, int]]) -> Pricing:
    """The cost of a run's output images, given as (width, height) pairs."""
    breakdown: list[dict[str, Any]] = []
    total_pixels = 0
    for width, height in sizes:
        pixels = int(width) * int(height)
        total_pixels += pixels
        amount = _output_cost(pixels).quantize(_SIX_PLACES, rounding=ROUND_HALF_UP)
        breakdown.append(
            {
                "item": "output_image",
                "quantity": round(pixels / 1_000_000, 6),
                "unit": "megapixel",
                "unit_price": _money_str(PRICE_PER_MEGAPIXEL),
                "amount": _money_str(amount),
            }
        )
    # The total is rounded once from the exact sum (docs/api.md#run-object), not summed from rounded lines.
    cost = _output_cost(total_pixels).quantize(_SIX_PLACES, rounding=ROUND_HALF_UP)
    return Pricing(cost=cost, breakdown=breakdown)


def estimate_cents(width: int, height: int, num_images: int) -> int:
    """Upper bound of a run's cost in cents, for the credit check before it is queued."""
    exact = _output_cost(int(width) * int(height) * int(num_images))
    return math.ceil(exact / _CENTS)
