"""A chat refund that names a monthly charge by its description refunds the one not refunded yet.

A subscription bills the same description every month. Raj's March "Northwind Plus monthly
membership" was refunded; his April one (same description) was not. "refund the Northwind Plus
monthly membership for raj…" names one charge that can still be refunded: the refund of the
April charge is proposed (a refunded charge is no candidate when another named one is open).
"""

from __future__ import annotations

from app.llm.local.chat_plans import refund_request
from tests.local_model import test_named_charge_substring as base

MARCH = {**base.MEMBERSHIP, "id": "ch_3PlusMarch001", "amount_refunded": 999}
APRIL = {**base.MEMBERSHIP, "id": "ch_3PlusApril001", "amount_refunded": 0}


def test_the_named_monthly_charge_not_refunded_yet_is_proposed() -> None:
    turn = base._turn([MARCH, APRIL])
    turn.message = f"refund the Northwind Plus monthly membership for {base.EMAIL}"
    step = refund_request(turn, base.EMAIL)
    proposed = [c.arguments.get("charge_id") for c in step.tool_calls if c.name.endswith("create_refund")]
    assert proposed == [APRIL["id"]], (
        f"asked to refund the monthly membership, of which only {APRIL['id']} is not refunded, the "
        f"local model proposed {proposed} and said: {step.content!r}"
    )
