from __future__ import annotations

from decimal import Decimal

import pytest

from pixelrun.runs import (
    Pricing,
    estimate_micros,
    micros_to_cents,
    micros_to_usd,
    price_outputs,
    usd_to_micros,
)


def test_one_megapixel_image() -> None:
    pricing = price_outputs([(1024, 1024)])
    assert isinstance(pricing, Pricing)
    assert pricing.cost == Decimal("0.031457")
    assert pricing.cost_str == "0.031457"
    # Debited exactly: no rounding to a cent.
    assert pricing.cost_micros == 31_457
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
    assert pricing.cost_micros == 0
    assert pricing.breakdown == []


def test_estimate_rounds_up_to_whole_micro_dollars() -> None:
    assert estimate_micros(1024, 1024, 1) == 31_458  # 0.03145728 USD
    assert estimate_micros(1024, 1024, 4) == 125_830  # 0.12582912 USD
    assert estimate_micros(1000, 1000, 1) == 30_000  # exactly 0.03 USD
    for width, height in ((1000, 1000), (1024, 1024), (50, 1), (1, 1), (1536, 640)):
        assert estimate_micros(width, height, 1) >= price_outputs([(width, height)]).cost_micros


def test_micro_dollar_conversions_are_exact() -> None:
    assert usd_to_micros("0.709627") == 709_627
    assert usd_to_micros(Decimal("10")) == 10_000_000
    assert micros_to_usd(709_627) == "0.709627"
    assert micros_to_usd(0) == "0.000000"
    assert micros_to_usd(-12) == "-0.000012"
    assert micros_to_usd(9_223_372_036_854_775_807) == "9223372036854.775807"
    # The older `_cents` fields round down.
    assert (micros_to_cents(709_627), micros_to_cents(9_999), micros_to_cents(10_000)) == (70, 0, 1)
    with pytest.raises(ValueError):
        usd_to_micros("0.0000001")
