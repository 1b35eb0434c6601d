"""Pricing: $0.03 per output megapixel (docs/api.md#run-object)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

PRICE_PER_MEGAPIXEL = Decimal("0.03")
_SIX_PLACES = Decimal("0.000001")
#: Micro-dollars per dollar: the ledger's unit, the wire cost's last decimal place
#: (docs/api.md#billing), so a debit is exactly the run's `cost`.
MICROS_PER_USD = 1_000_000
MICROS_PER_CENT = 10_000


def _money_str(value: Decimal) -> str:
    return format(value, "f")


def usd_to_micros(amount: Decimal | str) -> int:
    """Dollars (a decimal or its string, at most 6 places) as whole micro-dollars."""
    micros = Decimal(amount) * MICROS_PER_USD
    if micros != micros.to_integral_value():
        raise ValueError(f"{amount} USD has more than 6 decimal places")
    return int(micros)


def micros_to_usd(micros: int) -> str:
    """Micro-dollars as the wire's exact decimal string with 6 places, e.g. "0.709627"."""
    return _money_str((Decimal(micros) / MICROS_PER_USD).quantize(_SIX_PLACES))


def micros_to_cents(micros: int) -> int:
    """Micro-dollars rounded down to whole cents (the older `_cents` fields)."""
    return micros // MICROS_PER_CENT


@dataclass(frozen=True)
class Pricing:
    cost: Decimal
    breakdown: list[dict[str, Any]] = field(default_factory=list)

    @property
    def cost_str(self) -> str:
        """The wire cost: a decimal string with 6 places, e.g. "0.031457"."""
        return _money_str(self.cost)

    @property
    def cost_micros(self) -> int:
        """The amount debited from the owner's credit: exactly `cost`, in micro-dollars."""
        return usd_to_micros(self.cost)


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


def estimate_micros(width: int, height: int, num_images: int) -> int:
    """Upper bound of a run's cost in micro-dollars, for the credit check before it is queued."""
    exact = _output_cost(int(width) * int(height) * int(num_images))
    return int((exact * MICROS_PER_USD).to_integral_value(rounding=ROUND_CEILING))
