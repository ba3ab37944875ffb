"""A phone a read returned with no address on its record is someone's the run cannot name: given
in a public reply, it is flagged high. Records where the buyer has no email (a Shopify SMS-checkout
order), or where the address is side-loaded beside the record (a Zendesk voice ticket:
via.source.from.phone, requester in `users`), leave the phone without an owner.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.agent.policy import Policy, merge_facts, observe
from tests.agent.test_cross_customer_phones import dana_facts
from tests.support.tools import tool

BOB_PHONE = "+1 212 555 0147"
RECORDS: dict[str, Any] = {
    "shopify-order-without-email": {
        "order": {
            "id": 5001,
            "name": "#5001",
            "email": None,
            "phone": BOB_PHONE,
            "shipping_address": {"address1": "1 Main St", "city": "Springfield", "phone": BOB_PHONE},
        }
    },
    "zendesk-voice-ticket-with-sideloaded-requester": {
        "tickets": [
            {
                "id": 8,
                "subject": "Call from +1 212 555 0147",
                "requester_id": 45,
                "via": {"channel": "voice", "source": {"from": {"phone": BOB_PHONE}, "to": {}}},
            }
        ],
        "users": [{"id": 45, "name": "Bob", "email": "bob@example.com"}],
    },
}


@pytest.mark.parametrize("name", list(RECORDS))
def test_a_reply_to_dana_giving_another_buyers_phone_is_flagged_high(name: str) -> None:
    f = dana_facts()
    merge_facts(f, observe(RECORDS[name]))
    d = Policy().decide(
        tool("helpdesk__add_comment"),
        {"ticket_id": 7, "body": f"Hi Dana, the previous buyer can be reached on {BOB_PHONE}."},
        f,
    )
    assert d.risk == "high" and any(BOB_PHONE in r for r in d.reasons), (d.risk, d.reasons)
