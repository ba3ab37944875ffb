"""Scanning an item's texts joined does not build phrases out of unrelated short values.

The item's texts are also scanned joined (a phrase split between subject and body), but only the
prose among them: an event's single-word fields ("Finance", "approved"; "CFO", "approved") are
not read as one passage, and no finding comes of them.
"""

from __future__ import annotations

import pytest

from app.agent.injection import risk_reason, scan
from app.services.workflows import event_facts

EVENTS = [
    {
        "type": "expense_report.updated",
        "report": {"id": "er_1", "department": "Finance", "status": "approved"},
    },
    {"type": "budget.updated", "budget": {"id": "b_7", "owner": "CFO", "state": "approved"}},
    {"type": "access_request.closed", "request": {"id": "ar_2", "role": "admin", "decision": "approved"}},
]


@pytest.mark.parametrize("event", EVENTS, ids=["finance-approved", "cfo-approved", "admin-approved"])
def test_ordinary_event_values_joined_are_not_instruction_like(event: dict) -> None:
    facts = event_facts({"trigger": {"event": event["type"]}, "steps": []}, event)
    assert not any(scan(t) for t in facts["untrusted_text"])  # each value alone: nothing
    assert risk_reason(facts) is None, (facts["untrusted_text"], risk_reason(facts))
