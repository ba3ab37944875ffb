"""A phone number read out with "o" for zero, or with "double"/"triple", is still the number.

Another customer's number in a reply written "five five five, o one four seven" or with the
British "double five" / "triple five" is read as its digits and flagged high, as the digit form
is.
"""

from __future__ import annotations

import pytest

from app.agent.policy import Policy
from tests.agent.test_cross_customer import facts_with_another_customer
from tests.support.tools import tool

PREFIX = "Hi Dana, the previous owner can be reached on "


def decide(said: str):
    body = PREFIX + said + "."
    return Policy().decide(
        tool("helpdesk__add_comment"), {"ticket_id": 7, "body": body}, facts_with_another_customer()
    )


def test_the_control_zero_in_words_is_flagged() -> None:
    assert decide("two one two, five five five, zero one four seven").risk == "high"


@pytest.mark.parametrize(
    "said",
    [
        "two one two, five five five, o one four seven",
        "two one two, triple five, zero one four seven",
        "two one two, double five five, zero one four seven",
    ],
    ids=["o-for-zero", "triple", "double"],
)
def test_bobs_number_read_out_otherwise_is_flagged_high(said: str) -> None:
    d = decide(said)
    assert d.risk == "high", (said, d.risk, d.reasons)
