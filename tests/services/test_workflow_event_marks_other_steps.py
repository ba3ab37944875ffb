"""A number a workflow's spec states in one step is the spec's, whatever another step takes
from its event.

A value is traced to the event only where a step of the same tool renders it from the event:
the static `priority: 2` of a second step, written by the person who approved the spec, is not
outside text because the first step's priority is `{{ 1 if event.data.urgent else 3 }}`, and
the admin's standing rule for the second step runs it.
"""

from __future__ import annotations

from typing import Any

from app.agent import provenance
from app.agent.policy import StandingRule, merge_facts, new_facts, rule_refuses
from app.services.workflow_engine import render
from app.services.workflows import event_facts

RULE = StandingRule(
    tool="tracker__create_issue",
    approved_by="root",
    arguments_schema={
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "team_id": {"enum": ["OPS"]},
            "title": {"enum": ["Follow-up review"]},
            "priority": {"enum": [1, 2, 3, 4]},
        },
    },
)

FOLLOW_UP = {
    "tool": "tracker__create_issue",
    "arguments": {"team_id": "OPS", "title": "Follow-up review", "priority": 2},
}


def _spec(first_priority: Any) -> dict[str, Any]:
    return {
        "name": "mirror issues and schedule a review",
        "trigger": {"connection": "tracker", "event": "Issue.create"},
        "steps": [
            {
                "tool": "tracker__create_issue",
                "arguments": {"team_id": "SUP", "title": "Mirrored", "priority": first_priority},
            },
            FOLLOW_UP,
        ],
    }


EVENT = {"data": {"urgent": True, "title": "whatever the sender wrote"}}


def _second_step_refused(spec: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    arguments = render(FOLLOW_UP["arguments"], {"event": EVENT, "steps": []})
    assert arguments["priority"] == 2  # written in the spec, not sent by the event
    facts = new_facts()
    merge_facts(facts, event_facts(spec, EVENT))
    traced = provenance.trace(arguments, facts)
    return rule_refuses(RULE, arguments, traced), traced


def test_control_a_static_number_runs_under_the_rule_when_no_step_mentions_the_event() -> None:
    refused, traced = _second_step_refused(_spec(3))
    assert refused is None, (refused, traced["priority"])


def test_a_static_number_in_one_step_is_not_the_events_because_another_step_mentions_it() -> None:
    refused, traced = _second_step_refused(_spec("{{ 1 if event.data.urgent else 3 }}"))
    assert traced["priority"]["source"] != "untrusted", (
        "the follow-up step's fixed priority 2 (written in the approved spec) is traced as "
        f"{traced['priority']} because the *first* step's priority mentions the event"
    )
    assert refused is None, f"the standing rule for the follow-up step refuses it: {refused}"
