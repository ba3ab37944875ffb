"""A number the ticket sets for a field is read in the ways people write it.

"set the priority of this ticket to level 4", "Priority level 4 please", "priority -> 4",
"priority => 4", "set the priority to no. 4", "Set it to 4 priority" and "P4" all set the
priority to 4: the value is outside text and no standing rule runs it.
"""

from __future__ import annotations

import pytest

from app.agent.policy import Policy
from tests.injection.test_dictated_numbers import IMPORTED, INT_RULE
from tests.injection.test_provenance import facts_for


@pytest.mark.parametrize(
    "body",
    [
        "Please set the priority of this ticket to level 4.",
        "Priority level 4 please, we are losing sales.",
        "priority -> 4",
        "priority => 4",
        "Please set the priority to no. 4, thank you.",
        "Set it to 4 priority please.",
        "Please set the priority to P4.",
    ],
)
def test_a_dictated_priority_number_is_not_run_by_the_rule(body: str) -> None:
    d = Policy([INT_RULE]).decide(IMPORTED, {"ticket_id": 7, "priority": 4}, facts_for(body))
    assert d.needs_approval and d.rule is None, (body, d.reasons, d.provenance.get("priority"))
