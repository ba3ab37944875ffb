"""A currency's exponent, as Stripe defines it, and amounts converted by it both ways."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, Decimal

import pytest

from connectors import currency


@pytest.mark.parametrize(
    ("code", "places"),
    [
        ("USD", 2),
        ("eur", 2),
        ("JPY", 0),
        ("jpy", 0),
        ("XOF", 0),
        ("VUV", 0),
        ("XAF", 0),
        ("XPF", 0),
        ("KWD", 3),
        ("bhd", 3),
        ("TND", 3),
        # Stripe's special cases: sent with two decimals for backwards compatibility (UGX, ISK),
        # or zero-decimal only for payouts (HUF, TWD).
        ("UGX", 2),
        ("ISK", 2),
        ("HUF", 2),
        ("TWD", 2),
    ],
)
def test_exponent_follows_stripes_currency_table(code: str, places: int) -> None:
    assert currency.exponent(code) == places


@pytest.mark.parametrize("unknown", [None, "", "ZZZ", "  ", 392])
def test_an_unknown_or_missing_currency_has_two_decimals(unknown: object) -> None:
    assert currency.exponent(unknown) == 2


def test_a_three_decimal_amount_converts_both_ways() -> None:
    assert currency.to_minor("5.124", "KWD") == 5124
    assert currency.to_minor(Decimal("5.12"), "kwd") == 5120
    assert currency.to_major(5120, "KWD") == Decimal("5.12")
    assert currency.major_text(5120, "KWD") == "5.120"
    for minor in (1, 999, 5124, 1_000_000):
        assert currency.to_minor(currency.to_major(minor, "KWD"), "KWD") == minor


def test_a_zero_decimal_amount_is_its_own_minor_units() -> None:
    assert currency.to_minor(120000, "JPY") == 120000
    assert currency.to_major(5000, "jpy") == 5000
    assert currency.major_text(120000, "JPY", grouped=True) == "120,000"


def test_two_decimal_amounts_keep_their_cents_exactly() -> None:
    assert currency.to_minor(0.1 + 0.2, "USD") == 30
    assert currency.to_minor("486.20", "EUR") == 48620
    assert currency.to_major(4599, "usd") == Decimal("45.99")
    assert currency.major_text(-123456, None, grouped=True) == "-1,234.56"


def test_a_fraction_of_a_minor_unit_rounds_as_asked() -> None:
    assert currency.to_minor("10.005", "USD") == 1000  # half to even by default
    assert currency.to_minor("10.005", "USD", rounding=ROUND_CEILING) == 1001
    assert currency.to_minor("45.999", "USD", rounding=ROUND_DOWN) == 4599
    assert currency.to_minor("12.5", "JPY", rounding=ROUND_CEILING) == 13
