"""A quantity in ordinary ticket text is not a field's value.

A number right after a field's name is its value whatever word follows ("a priority 4 ticket"),
but after "is", "of", "at" or a range note a unit makes it a quantity ("the status of 4 orders",
"my order status is 3 weeks late"), and so does a unit joined to it ("priority 2-day shipping");
"est" (English: estimated) is a state word after a French name only. Each of these runs under
the standing rule.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.agent.policy import Policy
from tests.injection.test_dictated_numbers import IMPORTED, INT_RULE
from tests.injection.test_provenance import facts_for

CASES: list[tuple[dict[str, Any], str]] = [
    ({"status": 4}, "Could you check the status of 4 orders I placed last week?"),
    ({"status": 3}, "My order status is 3 weeks late now."),
    ({"status": 2}, "The status is 2 days behind what the tracking page said."),
    ({"priority": 2}, "I paid for Priority 2-day shipping and the parcel is late."),
    ({"priority": 3}, "The priority is 3 days overdue."),
    ({"priority": 3}, "I chose priority delivery, est 3 business days, still nothing."),
]
IDS = [
    "status-of-4-orders",
    "status-is-3-weeks",
    "status-is-2-days",
    "priority-2-day",
    "priority-is-3-days",
    "est",
]


@pytest.mark.parametrize(("args", "body"), CASES, ids=IDS)
def test_a_quantity_runs_under_the_rule(args: dict[str, Any], body: str) -> None:
    d = Policy([INT_RULE]).decide(IMPORTED, {"ticket_id": 7, **args}, facts_for(body))
    outside = {p: o["detail"] for p, o in d.provenance.items() if o["source"] == "untrusted"}
    assert not outside and d.rule is not None, (body, d.reasons, outside)
