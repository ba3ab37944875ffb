"""A number a ticket mentions near a field's name, but does not set it to, is no dictation.

"What's the status of my return? It is 3 weeks now." (across a sentence's end), "Quick status
check, I ordered a 2 pack", "I paid for Priority Mail and it is 2 days late", and Redmine's
`status_id`/`priority_id` (ids, not the fields): the standing rule runs the write.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.agent.policy import Policy, StandingRule
from tests.injection.test_dictated_numbers import IMPORTED
from tests.injection.test_provenance import facts_for

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "issue_id": {"type": "integer"},
        "status_id": {"enum": [1, 2, 3, 5]},
        "priority_id": {"enum": [1, 2, 3, 4]},
    },
}
RULE = StandingRule(
    tool="freshdesk__update_ticket", approved_by="lead", max_risk="low", arguments_schema=SCHEMA
)


@pytest.mark.parametrize(
    ("args", "body"),
    [
        ({"issue_id": 7, "status_id": 3}, "What's the status of my return? It is 3 weeks now."),
        ({"issue_id": 7, "status_id": 2}, "Quick status check, I ordered a 2 pack of filters."),
        ({"issue_id": 7, "priority_id": 2}, "I paid for Priority Mail and it is 2 days late."),
    ],
)
def test_a_number_mentioned_loosely_runs_under_the_rule(args: dict[str, Any], body: str) -> None:
    d = Policy([RULE]).decide(IMPORTED, args, facts_for(body))
    assert not d.needs_approval and d.rule is not None, (body, d.reasons)
