"""Believable Stripe data for Northwind, matching the help desk's customers.

The stories line up with the help-desk tickets (connectors/helpdesk/seed.py):
Raj Patel was charged twice for Northwind Plus two days ago (two 999-cent charges
36 seconds apart); Dana Whitfield's blender (NW-48102) is paid and not yet refunded;
Kevin Doyle's standing desk (NW-45530) was refunded a month ago, with the bank
reference (ARN) on the refund, and he has since opened a dispute anyway; Ann Lee, who
is not in the help desk, disputes a rug she says never arrived. Sam Okafor and Maria
Gonzalez have partial refunds. Both disputes need a response.

Harbor Lane Hotels bought 40 bedding sets for a refit last week ($3,120.00): a refund on an
order that size is above the two-approver threshold (SWITCHBOARD_TWO_APPROVERS_ABOVE, $500.00
by default). Last month's web orders, refunds and payouts (connectors/demo_books.py) are
here too, as balance transactions and payouts, for the month-end reconciliation.

Ids come from the state's seeded RNG, so they are the same on every start; look
objects up by email (`find_customer`) rather than hard-coding ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from connectors import demo_books
from connectors.payments import balance

if TYPE_CHECKING:
    from connectors.payments.simulator import PaymentsState

DAY = 86400
HOUR = 3600


@dataclass
class SeedCustomer:
    name: str
    email: str
    currency: str
    card: tuple[str, str]  # brand, last4
    locale: str = "en-US"
    country: str = "US"
    city: str = ""


@dataclass
class SeedCharge:
    email: str
    amount: int  # minor units
    description: str
    seconds_ago: int
    order: str | None = None
    descriptor: str = "NORTHWIND"
    metadata: dict[str, str] = field(default_factory=dict)


CUSTOMERS: list[SeedCustomer] = [
    SeedCustomer("Dana Whitfield", "dana.whitfield@example.com", "usd", ("visa", "4242"), city="Chicago"),
    SeedCustomer(
        "Jonas Weber", "jonas.weber@example.org", "eur", ("mastercard", "4444"), "de", "DE", "Berlin"
    ),
    SeedCustomer("Sam Okafor", "sam.okafor@example.com", "gbp", ("visa", "1881"), "en-GB", "GB", "London"),
    SeedCustomer(
        "Greta Lindqvist", "greta.lindqvist@example.net", "eur", ("visa", "0077"), "sv", "SE", "Malmö"
    ),
    SeedCustomer("Raj Patel", "raj.patel@example.org", "usd", ("amex", "8431"), city="San Jose"),
    SeedCustomer("Maria Gonzalez", "maria.gonzalez@example.com", "usd", ("mastercard", "5454"), "es", "MX"),
    SeedCustomer("Kevin Doyle", "kevin.doyle@example.net", "usd", ("visa", "3220"), city="Denver"),
    SeedCustomer("Ann Lee", "ann.lee@example.com", "usd", ("discover", "1117"), city="Seattle"),
]
# A business customer whose orders are large enough to need two approvers for a refund.
BUSINESS = SeedCustomer(
    "Harbor Lane Hotels", "purchasing@harborlane.example", "usd", ("amex", "1009"), city="Savannah"
)
BUSINESS_CHARGE = SeedCharge(
    BUSINESS.email, 312000, "Order NW-48230: linen bedding set x 40 (hotel refit)", 6 * DAY, "NW-48230"
)

PLUS = "Northwind Plus monthly membership"
PLUS_DESCRIPTOR = "NORTHWIND*PLUS"

CHARGES: list[SeedCharge] = [
    SeedCharge("dana.whitfield@example.com", 4599, "Order NW-44120: bath towel set", 61 * DAY, "NW-44120"),
    SeedCharge("dana.whitfield@example.com", 12900, "Order NW-48102: blender", 4 * DAY, "NW-48102"),
    SeedCharge("jonas.weber@example.org", 5990, "Order NW-47102: desk lamp", 5 * DAY, "NW-47102"),
    SeedCharge("sam.okafor@example.com", 8400, "Order NW-46975: linen bedding set", 20 * DAY, "NW-46975"),
    SeedCharge("greta.lindqvist@example.net", 14900, "Order NW-47761: linen curtains", 14 * DAY, "NW-47761"),
    SeedCharge("raj.patel@example.org", 999, PLUS, 32 * DAY, descriptor=PLUS_DESCRIPTOR),
    # The duplicate: the renewal ran twice, 36 seconds apart.
    SeedCharge("raj.patel@example.org", 999, PLUS, 2 * DAY + 36, descriptor=PLUS_DESCRIPTOR),
    SeedCharge("raj.patel@example.org", 999, PLUS, 2 * DAY, descriptor=PLUS_DESCRIPTOR),
    SeedCharge("maria.gonzalez@example.com", 6750, "Order NW-47420: ceramic planters", 25 * DAY, "NW-47420"),
    SeedCharge("maria.gonzalez@example.com", 999, PLUS, 10 * DAY, descriptor=PLUS_DESCRIPTOR),
    SeedCharge("kevin.doyle@example.net", 34900, "Order NW-45530: standing desk", 40 * DAY, "NW-45530"),
    SeedCharge("ann.lee@example.com", 21250, "Order NW-46890: wool rug 8x10", 35 * DAY, "NW-46890"),
]

# (order, amount or None for the rest, reason, seconds ago, ARN or None)
REFUNDS: list[tuple[str, int | None, str | None, int, str | None]] = [
    ("NW-45530", None, "requested_by_customer", 30 * DAY, "74567890123456789012345"),
    ("NW-46975", 1500, "requested_by_customer", 15 * DAY, "74561234509876543210987"),
    ("NW-47420", 2000, "requested_by_customer", 22 * DAY, "74569988776655443322110"),
]

# (order, reason, seconds ago, days to respond)
DISPUTES: list[tuple[str, str, int, int]] = [
    ("NW-46890", "product_not_received", 3 * DAY, 18),
    ("NW-45530", "credit_not_processed", 1 * HOUR, 21),
]


def seed(state: PaymentsState, *, now: float | None = None) -> None:
    """Fill an empty state with the customers, charges, refunds and disputes above."""
    t = int(now if now is not None else state.now())
    customers: dict[str, str] = {}
    cards: dict[str, tuple[str, str]] = {}
    for i, c in enumerate(CUSTOMERS):
        address = {
            "city": c.city or None,
            "country": c.country,
            "line1": None,
            "line2": None,
            "postal_code": None,
            "state": None,
        }
        customer = state.add_customer(
            name=c.name,
            email=c.email,
            currency=c.currency,
            created=t - (400 - 20 * i) * DAY,
            locale=c.locale,
            address=address,
        )
        customers[c.email] = customer["id"]
        cards[c.email] = c.card
    by_order: dict[str, str] = {}
    for ch in CHARGES:
        metadata = {"order_id": ch.order} if ch.order else {"plan": "plus_monthly"}
        charge = state.add_charge(
            customer_id=customers[ch.email],
            amount=ch.amount,
            currency=next(c.currency for c in CUSTOMERS if c.email == ch.email),
            description=ch.description,
            created=t - ch.seconds_ago,
            card=cards[ch.email],
            metadata={**metadata, **ch.metadata},
            statement_descriptor=ch.descriptor,
        )
        if ch.order:
            by_order[ch.order] = charge["id"]
    for order, amount, reason, ago, arn in REFUNDS:
        state.add_refund(by_order[order], amount=amount, reason=reason, created=t - ago, arn=arn)
    for order, reason, ago, due_days in DISPUTES:
        state.open_dispute(by_order[order], reason=reason, created=t - ago, due_in_days=due_days)
    _seed_business(state, t)
    _seed_last_month(state, t)


def _seed_business(state: PaymentsState, t: int) -> None:
    c, ch = BUSINESS, BUSINESS_CHARGE
    customer = state.add_customer(name=c.name, email=c.email, currency=c.currency, created=t - 200 * DAY)
    state.add_charge(
        customer_id=customer["id"],
        amount=ch.amount,
        currency=c.currency,
        description=ch.description,
        created=t - ch.seconds_ago,
        card=c.card,
        metadata={"order_id": ch.order or ""},
    )


def _seed_last_month(state: PaymentsState, t: int) -> None:
    """Last calendar month's web orders, refunds and payouts (see connectors/demo_books.py)."""
    first, last = demo_books.month_before(datetime.fromtimestamp(t, UTC).date())
    customers = {
        email: state.add_customer(
            name=name,
            email=email,
            currency="usd",
            created=t - 300 * DAY,
            address={"city": city, "country": "US"},
        )["id"]
        for name, email, city in demo_books.CUSTOMERS
    }
    txn_of: dict[str, str] = {}
    charge_of: dict[str, str] = {}
    for o in demo_books.ORDERS:
        charge = state.add_charge(
            customer_id=customers[o.email],
            amount=o.amount,
            currency="usd",
            description=f"Order {o.order}: {o.what}",
            created=demo_books.at_noon(demo_books.day_of(first, last, o.day)),
            card=("visa", "4242"),
            metadata={"order_id": o.order},
        )
        txn_of[o.order] = charge["balance_transaction"]
        charge_of[o.order] = charge["id"]
    refund_txn: dict[str, str] = {}
    for r in demo_books.REFUNDS:
        made = state.add_refund(
            charge_of[r.order],
            amount=r.amount,
            reason="requested_by_customer",
            created=demo_books.at_noon(demo_books.day_of(first, last, r.day)),
            arn=None,
        )
        refund_txn[r.order] = made["balance_transaction"]
    for p in demo_books.PAYOUTS:
        created = demo_books.at_noon(demo_books.day_of(first, last, p.day))
        arrival = created + demo_books.ARRIVAL_DAYS * DAY
        if p.status != "paid":  # still on its way: it arrives after today
            arrival = max(arrival, t + DAY)
        balance.add_payout(
            state,
            p.payout_id,
            [txn_of[o] for o in p.orders] + [refund_txn[o] for o in p.refunds],
            created=created,
            arrival=arrival,
            status=p.status,
        )
