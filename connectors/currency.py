"""How many decimal places a currency's minor unit has: the one place the code knows it.

Amounts travel in minor units (Stripe's `amount`, the gate's thresholds) and records and
ledger lines keep major units, so converting one into the other needs the currency's exponent:
not every currency has cents (¥5,000 is `amount=5000`, 5.120 KWD is `amount=5120`).

The table is Stripe's, from its "Supported currencies" page (https://docs.stripe.com/currencies),
because the payments client and simulator speak Stripe's wire format. A code is read case-
insensitively (Stripe sends lowercase). A currency not listed here, or no currency at all, has
two decimals, as every currency Stripe does not single out does.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

DEFAULT_EXPONENT = 2

# Stripe's zero-decimal list has UGX too, but its "Special cases" section says UGX amounts must be
# sent with two decimals for backwards compatibility (5 UGX is amount=500), as ISK's are; so both
# keep two here, like HUF and TWD, whose special case concerns payouts, not amounts charged.
ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "VND", "VUV", "XAF", "XOF", "XPF"}
)
# Stripe takes these with three decimals (and asks that the last digit be 0 when charging).
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})


# Amounts Stripe takes in these currencies are multiples of a step of minor units: a three-decimal
# currency's last digit must be 0 ("5.124 KWD must be rounded to 5120 or 5130"), and ISK and UGX,
# two decimals on the wire, are whole units only ("all amounts in ISK ... multiples of 100").
# https://docs.stripe.com/currencies ("Three-decimal currencies", "Special cases").
STEPS = {**dict.fromkeys(THREE_DECIMAL, 10), "ISK": 100, "UGX": 100}


def step(currency: Any) -> int:
    """The minor units an amount in `currency` must be a multiple of (1 for most)."""
    return STEPS.get(currency.strip().upper() if isinstance(currency, str) else "", 1)


def chargeable(minor: int, currency: Any) -> int:
    """`minor` rounded down to an amount Stripe takes in `currency` (never more than asked)."""
    return minor - minor % step(currency)


def exponent(currency: Any) -> int:
    """Decimal places of the currency's minor unit: 0 for JPY, 3 for KWD, 2 for USD and for
    anything unknown or missing."""
    code = currency.strip().upper() if isinstance(currency, str) else ""
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return DEFAULT_EXPONENT


def to_minor(amount: Any, currency: Any, *, rounding: str = ROUND_HALF_EVEN) -> int:
    """A major-unit amount (Decimal, int, or its text; a float by its shortest repr) in whole
    minor units: 12.34 USD → 1234, 120000 JPY → 120000, 5.12 KWD → 5120. A fraction of a minor
    unit is rounded as `rounding` says (Decimal's own default unless given)."""
    value = Decimal(str(amount)) if not isinstance(amount, Decimal) else amount
    return int(value.scaleb(exponent(currency)).to_integral_value(rounding=rounding))


def to_major(minor: int, currency: Any) -> Decimal:
    """Minor units as a major-unit amount: 4599 USD → 45.99, 5000 JPY → 5000, 5120 KWD → 5.12."""
    return Decimal(int(minor)) / 10 ** exponent(currency)


def major_text(minor: int, currency: Any, *, grouped: bool = False) -> str:
    """Minor units written with the currency's decimals: 4599 USD → '45.99', 5000 JPY → '5000'
    ('5,000' when `grouped`), 5120 KWD → '5.120'."""
    return f"{to_major(minor, currency):{',' if grouped else ''}.{exponent(currency)}f}"
