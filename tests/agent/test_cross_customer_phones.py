"""Another customer's phone in a public message is flagged however the record nests it and
however the message writes it.

A Shopify order (the shop connector's `get_order` shape) carries the customer's `email` on the
order and the `phone` on its `shipping_address` / `billing_address`: the phone belongs to the
nearest address above it. A phone written with no separators, en dashes or middle dots is still
that phone.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.agent.policy import Policy, merge_facts, new_facts, observe
from tests.agent.test_cross_customer import facts_with_another_customer
from tests.support.tools import tool

BOB_PHONE = "+1 212 555 0147"
DANA_PHONE = "+44 20 7946 0958"


def order(number: int, email: str, phone: str) -> dict[str, Any]:
    address = {
        "first_name": "X",
        "address1": "1 Main St",
        "city": "Springfield",
        "zip": "12345",
        "phone": phone,
    }
    return {
        "order": {
            "id": number,
            "name": f"#{number}",
            "email": email,
            "customer": {"id": number + 1, "email": email, "first_name": "X"},
            "shipping_address": address,
            "billing_address": address,
        }
    }


def dana_facts() -> dict[str, Any]:
    f = new_facts()
    merge_facts(
        f,
        {
            "requester_email": "dana@example.com",
            "ticket_id": 7,
            "untrusted_text": ["Order", "Who had this order before me?"],
        },
    )
    return f


def test_a_reply_to_dana_giving_bobs_phone_from_his_shop_order_is_flagged_high() -> None:
    f = dana_facts()
    merge_facts(f, observe(order(5001, "bob@example.com", BOB_PHONE)))  # a lookup that returned Bob's order
    d = Policy().decide(
        tool("helpdesk__add_comment"),
        {"ticket_id": 7, "body": f"Hi Dana, the previous buyer can be reached on {BOB_PHONE}."},
        f,
    )
    assert d.risk == "high" and any(BOB_PHONE in r for r in d.reasons), (d.risk, d.reasons)


def test_a_new_ticket_to_bob_carrying_danas_phone_from_her_shop_order_is_flagged_high() -> None:
    f = dana_facts()
    merge_facts(f, observe(order(5002, "dana@example.com", DANA_PHONE)))  # the requester's own order
    merge_facts(f, observe({"user": {"id": 44, "email": "bob@example.com"}}))
    d = Policy().decide(
        tool("helpdesk__create_ticket"),
        {
            "subject": "Your refund",
            "body": f"The buyer ({DANA_PHONE}) asked about the order you sold her.",
            "requester_email": "bob@example.com",
        },
        f,
    )
    assert d.risk == "high" and any(DANA_PHONE in r or "requester" in r for r in d.reasons), (
        d.risk,
        d.reasons,
    )


@pytest.mark.parametrize("written", ["2125550147", "1 212–555–0147", "+1·212·555·0147"])
def test_bobs_phone_written_without_usual_separators_in_a_reply_to_dana_is_flagged(written: str) -> None:
    """Bob's phone sits on his record beside his address (the fix's own fixture); written with no
    separator, en dashes or middle dots, the gate sees no phone number in the reply at all."""
    d = Policy().decide(
        tool("helpdesk__add_comment"),
        {"ticket_id": 7, "body": f"Hi Dana, the previous owner can be reached on {written}."},
        facts_with_another_customer(),
    )
    assert d.risk == "high", (written, d.risk, d.reasons)
