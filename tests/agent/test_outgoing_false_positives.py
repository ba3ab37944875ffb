"""Ordinary reply text is not a phone number: an ISO date with a time, a European date with a
time, order numbers in a row. Taken for phones, each would make a plain public reply high and
a team chat message medium, out of reach of rules and bulk decisions: false alarms in the queue."""

from __future__ import annotations

import pytest

from app.agent.policy import Policy
from tests.agent.test_outgoing import facts
from tests.support.tools import tool

TEXTS = [
    "Your order shipped on 2024-05-01 14:30 from our Leeds warehouse.",
    "The parcel was delivered on 01.05.2024 10:30 to your doorstep.",
    "Orders 1001 1002 1003 are refunded in full.",
]


@pytest.mark.parametrize("text", TEXTS)
def test_a_plain_public_reply_is_not_high(text: str) -> None:
    d = Policy().decide(tool("helpdesk__add_comment"), {"ticket_id": 7, "body": text}, facts())
    assert d.risk == "medium", d.reasons


@pytest.mark.parametrize("text", TEXTS)
def test_a_plain_team_message_is_low(text: str) -> None:
    d = Policy().decide(tool("chat__post_message"), {"channel": "#support", "text": text}, facts())
    assert d.risk == "low", d.reasons
