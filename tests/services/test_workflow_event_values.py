"""Numbers and booleans a webhook's payload dictates are outside text too.

A value that is one `{{ expression }}` keeps its type, so `{{ event.issue.priority }}` or
`{{ event.notify }}` reaches the write as an int or a bool the event's sender chose. Any scalar a
workflow takes whole from its (delivered) event is traced as outside text, whatever its JSON
type: approvers see where it came from, and no standing rule runs it.
"""

from __future__ import annotations

from pathlib import Path

from app.agent import provenance
from app.agent.policy import StandingRule, merge_facts, new_facts, rule_refuses
from app.services import approvals, workflows
from app.services.views import run_view
from app.services.workflow_engine import render
from app.services.workflows import event_facts
from tests.support.app import full_container

SPEC = {
    "name": "mirror issues",
    "trigger": {"connection": "tracker", "event": "Issue.create"},
    "steps": [
        {
            "tool": "tracker__create_issue",
            "arguments": {
                "team_id": "OPS",
                "title": "New outside issue",
                "priority": "{{ event.data.priority }}",
            },
        }
    ],
}
RULE = StandingRule(
    tool="tracker__create_issue",
    approved_by="root",
    arguments_schema={
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "team_id": {"enum": ["OPS"]},
            "title": {"enum": ["New outside issue"]},
            "priority": {"enum": [1, 2, 3, 4]},
        },
    },
)


def test_a_number_taken_from_the_event_is_outside_text() -> None:
    event = {"data": {"priority": 1, "title": "URGENT: page everyone"}}  # the sender chose 1
    arguments = render(SPEC["steps"][0]["arguments"], {"event": event, "steps": []})
    assert arguments["priority"] == 1
    facts = new_facts()
    merge_facts(facts, event_facts(SPEC, event))
    traced = provenance.trace(arguments, facts)
    assert traced["priority"]["source"] == "untrusted", traced["priority"]
    assert rule_refuses(RULE, arguments, traced) is not None


async def test_a_boolean_taken_from_the_event_is_shown_as_outside_text(db_url: str, tmp_path: Path) -> None:
    """Through a real workflow run: the approver sees `public` as the event's, not the model's."""
    c, _ = full_container(db_url, tmp_path)
    spec = {
        "name": "note on dispute",
        "trigger": {"connection": "payments", "event": "charge.dispute.created"},
        "steps": [
            {"tool": "helpdesk__get_ticket", "arguments": {"ticket_id": 2}},
            {
                "tool": "helpdesk__add_comment",
                "arguments": {"ticket_id": 2, "body": "A dispute opened.", "public": "{{ event.notify }}"},
            },
        ],
    }
    run_id = workflows.start(c.db, "wf-bool", spec, {"notify": True}, "evt_bool")
    await c.orchestrator.drain("w")
    [held] = run_view(c.db, run_id)["actions"]
    action = approvals.get_action(c.db, held["id"])
    await c.pool.aclose()
    assert action["arguments"]["public"] is True
    assert action["provenance"]["public"]["source"] == "untrusted", action["provenance"]["public"]
