"""Another customer's postal address is theirs however the reply writes the street line.

A reply to Dana that gives Bob's address (read from his order in this run) with the usual
abbreviation ("12 Harbour Rd."), the number after the street ("Harbour Road 12", as most of
Europe writes it) or the number in words ("twelve Harbour Road") is flagged high as the exact
street line is: street types are read unabbreviated, number words as digits, and the house
number on either side of the street's name.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.agent.policy import Policy, merge_facts, new_facts, observe
from tests.support.tools import tool


def facts() -> dict[str, Any]:
    f = new_facts()
    merge_facts(
        f,
        {
            "requester_email": "dana@example.com",
            "ticket_id": 7,
            "untrusted_text": ["Order", "Where did it go?"],
        },
    )
    bob = {
        "id": 9,
        "email": "bob@example.com",
        "shipping_address": {"address1": "12 Harbour Road", "city": "Leeds"},
    }
    merge_facts(f, observe({"order": bob}))  # a look-up that returned Bob's order
    return f


def decide(body: str) -> Any:
    return Policy().decide(tool("helpdesk__add_comment"), {"ticket_id": 7, "body": body}, facts())


def test_the_exact_street_line_is_flagged() -> None:
    assert decide("Hi Dana, it was delivered to 12 Harbour Road, Leeds.").risk == "high"  # the control


@pytest.mark.parametrize(
    "written", ["12 Harbour Rd., Leeds", "Harbour Road 12, Leeds", "twelve Harbour Road, Leeds"]
)
def test_bobs_street_line_written_otherwise_in_a_reply_to_dana_is_flagged_high(written: str) -> None:
    d = decide(f"Hi Dana, it was delivered to {written}.")
    assert d.risk == "high", (written, d.risk, d.reasons)
