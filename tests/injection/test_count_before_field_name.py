"""A count before a field's name is not a value set for the field.

A number before the field's name sets it only after a set word ("set it to 4 priority"): "I
bought 2 Priority Mail labels" or "We have 3 priority orders stuck in customs" set no priority,
and the standing rule runs an ordinary write of priority 2 or 3.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.agent.policy import Policy
from tests.injection.test_dictated_numbers import IMPORTED, INT_RULE
from tests.injection.test_provenance import facts_for

CASES: list[tuple[dict[str, Any], str]] = [
    ({"priority": 2}, "I bought 2 Priority Mail labels and neither parcel has arrived."),
    ({"priority": 3}, "We have 3 priority orders stuck in customs since Monday."),
]


@pytest.mark.parametrize(("args", "body"), CASES, ids=["priority-mail-labels", "priority-orders"])
def test_a_count_before_the_word_priority_runs_under_the_rule(args: dict[str, Any], body: str) -> None:
    d = Policy([INT_RULE]).decide(IMPORTED, {"ticket_id": 7, **args}, facts_for(body))
    outside = {p: o["detail"] for p, o in d.provenance.items() if o["source"] == "untrusted"}
    assert not outside and d.rule is not None, (body, d.reasons, outside)
