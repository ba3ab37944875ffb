"""One month of card sales as both demo systems hold it: Stripe's payouts and the ERP's books.

The payments simulator's seed turns this into charges, refunds, balance transactions and
payouts; the ERP simulator's seed books the same month the way Northwind's bookkeeper did,
with three differences planted on purpose, because finding them is what a reconciliation
is for:

- the processing fees of the second payout were never booked;
- the refund of order NW-43103 was booked twice (two entries, two days apart);
- the third payout is still in transit at the end of the month, so the bank has not
  received it and no cash entry exists (a timing difference, not an error).

The month is the calendar month before the simulators' clock, so the demo always has a
closed month to reconcile. Payout ids are fixed, as a bookkeeper's entries quote them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class MonthOrder:
    order: str
    name: str
    email: str
    amount: int  # cents, USD
    day: int  # day of the month the card was charged
    what: str


@dataclass(frozen=True)
class MonthRefund:
    order: str
    amount: int  # cents
    day: int


@dataclass(frozen=True)
class MonthPayout:
    payout_id: str
    day: int  # created on this day of the month; 0 means the month's last day
    orders: tuple[str, ...]
    refunds: tuple[str, ...]
    status: str  # paid | in_transit


CUSTOMERS: tuple[tuple[str, str, str], ...] = (
    ("Olivia Martin", "olivia.martin@example.com", "Portland"),
    ("Noah Kim", "noah.kim@example.com", "Austin"),
    ("Emma Rossi", "emma.rossi@example.com", "Boston"),
    ("Liam Chen", "liam.chen@example.com", "Denver"),
)

ORDERS: tuple[MonthOrder, ...] = (
    MonthOrder("NW-43101", "Olivia Martin", "olivia.martin@example.com", 8900, 3, "cast iron skillet set"),
    MonthOrder("NW-43102", "Noah Kim", "noah.kim@example.com", 15900, 4, "espresso machine"),
    MonthOrder("NW-43103", "Emma Rossi", "emma.rossi@example.com", 4500, 5, "linen napkins, set of 8"),
    MonthOrder("NW-43104", "Liam Chen", "liam.chen@example.com", 23400, 7, "oak dining bench"),
    MonthOrder("NW-43210", "Olivia Martin", "olivia.martin@example.com", 12900, 10, "wool throw blanket"),
    MonthOrder("NW-43211", "Noah Kim", "noah.kim@example.com", 6750, 12, "ceramic planters"),
    MonthOrder("NW-43212", "Emma Rossi", "emma.rossi@example.com", 31000, 13, "standing lamp, brass"),
    MonthOrder("NW-43330", "Liam Chen", "liam.chen@example.com", 9900, 20, "bath towel set"),
    MonthOrder("NW-43331", "Emma Rossi", "emma.rossi@example.com", 18900, 24, "stand mixer"),
)

REFUNDS: tuple[MonthRefund, ...] = (
    MonthRefund("NW-43102", 5000, 6),  # partial: a dented drip tray
    MonthRefund("NW-43103", 4500, 11),  # returned unopened
)

PAYOUTS: tuple[MonthPayout, ...] = (
    MonthPayout(
        "po_1NwMonthA7kQ2xR", 9, ("NW-43101", "NW-43102", "NW-43103", "NW-43104"), ("NW-43102",), "paid"
    ),
    MonthPayout("po_1NwMonthB3mT8vL", 16, ("NW-43210", "NW-43211", "NW-43212"), ("NW-43103",), "paid"),
    MonthPayout("po_1NwMonthC9pZ4wD", 0, ("NW-43330", "NW-43331"), (), "in_transit"),
)
ARRIVAL_DAYS = 2


def fee(amount: int) -> int:
    """Stripe's standard US card fee, 2.9% + 30 cents, rounded half up to the cent."""
    return int((Decimal(amount) * Decimal("0.029")).to_integral_value(ROUND_HALF_UP)) + 30


def month_before(today: date) -> tuple[date, date]:
    """(first day, last day) of the calendar month before `today`."""
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def day_of(first: date, last: date, day: int) -> date:
    return last if day == 0 else min(first.replace(day=day), last)


def at_noon(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, 12, tzinfo=UTC).timestamp())


def order(number: str) -> MonthOrder:
    return next(o for o in ORDERS if o.order == number)


def payout_totals(p: MonthPayout) -> tuple[int, int, int, int]:
    """(gross charges, fees, refunds, net paid out) in cents."""
    gross = sum(order(o).amount for o in p.orders)
    fees = sum(fee(order(o).amount) for o in p.orders)
    refunds = sum(r.amount for r in REFUNDS if r.order in p.refunds)
    return gross, fees, refunds, gross - fees - refunds
