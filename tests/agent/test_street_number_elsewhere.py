"""Street lines: a line whose house number is not next to the street's name is still found, and
a number near a shared street name is not someone else's house number.

Another customer's "Flat 3, 12 Harbour Road" written out as on the record is theirs (high); a
reply saying "delivered to 40 High Street on 12 March" or "40 High Street, two parcels" gives no
one's "12 High Street" or "2 High Street": the house number counts only right before the
street's name, or right after it when no other number stands before it.
"""

from __future__ import annotations

from typing import Any

from app.agent.policy import Policy, merge_facts, new_facts, observe
from tests.support.tools import tool


def facts(bob_line: str, dana_line: str = "40 High Street") -> dict[str, Any]:
    f = new_facts()
    merge_facts(
        f,
        {"requester_email": "dana@example.com", "ticket_id": 7, "untrusted_text": ["Order", "Where is it?"]},
    )
    orders = [
        {"id": 8, "email": "dana@example.com", "shipping_address": {"address1": dana_line, "city": "Leeds"}},
        {"id": 9, "email": "bob@example.com", "shipping_address": {"address1": bob_line, "city": "Leeds"}},
    ]
    merge_facts(f, observe({"orders": orders}))  # a search that returned both orders
    return f


def decide(body: str, bob_line: str) -> Any:
    return Policy().decide(tool("helpdesk__add_comment"), {"ticket_id": 7, "body": body}, facts(bob_line))


def test_bobs_line_with_a_flat_number_written_verbatim_is_flagged_high() -> None:
    d = decide("Hi Dana, it was delivered to Flat 3, 12 Harbour Road, Leeds.", "Flat 3, 12 Harbour Road")
    assert d.risk == "high", (d.risk, d.reasons)


def test_bobs_line_with_a_unit_number_written_verbatim_is_flagged_high() -> None:
    d = decide("Hi Dana, it was delivered to Unit 5, 20 King Street, Leeds.", "Unit 5, 20 King Street")
    assert d.risk == "high", (d.risk, d.reasons)


def test_a_date_after_danas_own_street_is_not_bobs_house_number() -> None:
    d = decide("Hi Dana, your parcel was delivered to 40 High Street on 12 March.", "12 High Street")
    assert not any("bob@example.com" in r for r in d.reasons), (d.risk, d.reasons)


def test_a_count_after_danas_own_street_is_not_bobs_house_number() -> None:
    d = decide("Hi Dana, we sent it to 40 High Street, two parcels in all.", "2 High Street")
    assert not any("bob@example.com" in r for r in d.reasons), (d.risk, d.reasons)
