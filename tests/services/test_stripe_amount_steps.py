"""A refund is an amount Stripe takes for its currency, proposed so and refused otherwise.

Stripe's "Supported currencies" page (https://docs.stripe.com/currencies, sections
"Three-decimal currencies" and "Special cases"):

- Three-decimal currencies (BHD, JOD, KWD, OMR, TND): "these API calls require the
  least-significant (last) digit to be 0. Your integration must round amounts to the nearest
  ten. For example, 5.124 KWD must be rounded to 5120 or 5130."
- ISK: "the Stripe API will enforce that all amounts in ISK are stated in multiples of 100"
  (https://support.stripe.com/questions/deprecation-of-fractional-isk-charges-and-refunds).

A refund record of 5.125 KWD or 5000.50 ISK is proposed rounded down to what Stripe takes (5120,
500000: never more than the record asks), and the simulator refuses what Stripe refuses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.services import intake
from app.services.views import run_view
from tests.support.app import full_container


@pytest.fixture
async def rig(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    c, sims = full_container(db_url, tmp_path, crm=True)
    yield c, sims
    await c.pool.aclose()


# (record currency, record amount, charge amount in Stripe minor units, Stripe's step)
CASES = [
    ("KWD", "5.125", 10_000, 10),  # three decimals: the last digit must be 0
    ("ISK", "5000.50", 1_000_000, 100),  # two decimals on the wire, whole kronur only
]


@pytest.mark.parametrize(("currency", "amount", "charged", "step"), CASES, ids=[c[0] for c in CASES])
async def test_a_refund_proposal_is_an_amount_stripe_accepts_for_its_currency(
    rig: Any, currency: str, amount: str, charged: int, step: int
) -> None:
    c, sims = rig
    state = sims["payments"].state.payments
    who = state.add_customer(name="Noor Saleh", email="noor.saleh@example.com", currency=currency.lower())
    charge = state.add_charge(
        customer_id=who["id"], amount=charged, currency=currency.lower(), description="Coffee grinder"
    )
    run_id = intake.submit(
        c.db,
        kind="record",
        run_kind="record",
        payload={
            "kind": "refund",
            "amount": amount,
            "currency": currency,
            "counterparty": "Noor Saleh",
            "description": "grinder arrived broken",
            "customer_email": "noor.saleh@example.com",
            "charge_id": charge["id"],
        },
        source="api",
        actor="clerk-kim",
    )[0]
    await c.orchestrator.drain("w")
    view = run_view(c.db, run_id)
    refunds = [a for a in view["actions"] if a["operation"] == "create_refund"]
    for refund in refunds:
        sent = refund["arguments"].get("amount")
        assert sent is not None and sent % step == 0, (
            f"{currency} refund proposed with amount={sent}: Stripe requires a multiple of {step} "
            f"for {currency}, so this approved write would be refused"
        )


def test_the_simulator_refuses_an_amount_stripe_refuses() -> None:
    from connectors.payments.simulator import StripeAPIError, create_app

    state = create_app().state.payments
    who = state.add_customer(name="Noor Saleh", email="noor.saleh@example.com", currency="kwd")
    charge = state.add_charge(customer_id=who["id"], amount=10_000, currency="kwd", description="Grinder")
    with pytest.raises(StripeAPIError, match="multiple of 10"):
        state.create_refund({"charge": charge["id"], "amount": "5125"})
    assert state.create_refund({"charge": charge["id"], "amount": "5120"})["amount"] == 5120
