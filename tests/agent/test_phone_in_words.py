"""Another customer's phone number written out in words is still their phone number.

A reply to Dana that gives Bob's number (read from his record in this run) as "two one two, five
five five, zero one four seven", half in digits and half in words, or "oh-one-four-seven", is
read with the number words as digits (and the pauses between them as spaces) before phones are
matched, and is flagged high as the digit form is.
"""

from __future__ import annotations

import pytest

from app.agent.policy import Policy
from tests.agent.test_cross_customer import facts_with_another_customer  # Bob: +1 212 555 0147
from tests.support.tools import tool

REPLIES = [
    "Hi Dana, the previous owner can be reached on two one two, five five five, zero one four seven.",
    "Hi Dana, the previous owner can be reached on 212 555, then zero one four seven.",
    "Hi Dana, the previous owner's line: one, two-one-two, five-five-five, oh-one-four-seven.",
]


def test_the_digit_form_is_flagged() -> None:
    """The control: Bob's number in digits."""
    d = Policy().decide(
        tool("helpdesk__add_comment"),
        {"ticket_id": 7, "body": "Hi Dana, the previous owner can be reached on 212 555 0147."},
        facts_with_another_customer(),
    )
    assert d.risk == "high", d.reasons


@pytest.mark.parametrize("body", REPLIES)
def test_bobs_phone_in_words_in_a_reply_to_dana_is_flagged_high(body: str) -> None:
    d = Policy().decide(
        tool("helpdesk__add_comment"), {"ticket_id": 7, "body": body}, facts_with_another_customer()
    )
    assert d.risk == "high", (body, d.risk, d.reasons)
