from __future__ import annotations

from decimal import Decimal

from pixelrun.runs import Pricing, estimate_cents, price_outputs


def test_one_megapixel_image() -> None:
    pricing = price_outputs([(1024, 1024)])
    assert isinstance(pricing, Pricing)
    assert pricing.cost == Decimal("0.031457")
    assert pricing.cost_str == "0.031457"
    assert pricing.cost_cents == 4
    assert pricing.breakdown == [
        {
            "item": "output_image",
            "quantity": 1.048576,
            "unit": "megapixel",
            "unit_price": "0.03",
            "amount": "0.031457",
        }
    ]


def test_total_is_rounded_from_the_exact_sum() -> None:
    # Each line rounds 0.01769472 up to 0.017695; the exact total 0.03538944 rounds to 0.035389.
    pricing = price_outputs([(1024, 576), (1024, 576)])
    assert [line["amount"] for line in pricing.breakdown] == ["0.017695", "0.017695"]
    assert pricing.cost_str == "0.035389"
    assert len(pricing.breakdown) == 2


def test_half_up_rounding() -> None:
    # 0.03 * 50 / 1e6 = 0.0000015 exactly: half up gives 0.000002.
    assert price_outputs([(50, 1)]).cost_str == "0.000002"


def test_no_outputs_cost_zero() -> None:
    pricing = price_outputs([])
    assert pricing.cost_str == "0.000000"
    assert pricing.cost_cents == 0
    assert pricing.breakdown == []


def test_estimate_rounds_up_to_whole_cents() -> None:
    assert estimate_cents(1024, 1024, 1) == 4  # 3.1457 cents
    assert estimate_cents(1024, 1024, 4) == 13  # 12.58 cents
    assert estimate_cents(1000, 1000, 1) == 3  # exactly 3 cents
    assert estimate_cents(1000, 1000, 1) >= price_outputs([(1000, 1000)]).cost_cents
