"""Numbers and booleans an outside event dictates stay outside text however a step reaches them.

A value a workflow's step takes from its (delivered) event is traced as outside text, so
approvers see where it came from and no standing rule runs it: taken whole (`{{ event.… }}`),
through a step's `each` loop over the event (`each: event.data.priorities`, `"{{ item }}"`; the
shipped drafter loops over `event.line_items` this way), inside a list the template builds from
the event (`"{{ event.line_items | map('pick', 'quantity') | list }}"`), through an expression
that does not begin with `event` (`"{{ (event.data.priority) }}"`), and in an `on_problem` step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.agent import provenance
from app.agent.policy import StandingRule, merge_facts, new_facts, rule_refuses
from app.services import rules, workflows
from app.services.auth import Principal
from app.services.views import run_view
from app.services.workflow_engine import render
from app.services.workflows import event_facts
from tests.services.test_workflow_event_values import RULE
from tests.support.app import full_container


def _spec(step: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "mirror issues",
        "trigger": {"connection": "tracker", "event": "Issue.create"},
        "steps": [{"tool": "tracker__create_issue", **step}],
    }


CASES = {
    "each over the event": (
        _spec(
            {
                "each": "event.data.priorities",
                "arguments": {"team_id": "OPS", "title": "New outside issue", "priority": "{{ item }}"},
            }
        ),
        {"data": {"priorities": [1], "title": "URGENT: page everyone"}},
    ),
    "an expression not starting with event": (
        _spec(
            {
                "arguments": {
                    "team_id": "OPS",
                    "title": "New outside issue",
                    "priority": "{{ (event.data.priority) }}",
                }
            }
        ),
        {"data": {"priority": 1, "title": "URGENT: page everyone"}},
    ),
    "an on_problem step": (
        {
            "name": "mirror issues",
            "trigger": {"connection": "tracker", "event": "Issue.create"},
            "steps": [
                {
                    "tool": "tracker__get_issue",
                    "arguments": {"issue_id": "OPS-1"},
                    "check": [{"field": "result.id", "op": "equals", "value": "never"}],
                }
            ],
            "on_problem": [
                {
                    "tool": "tracker__create_issue",
                    "arguments": {
                        "team_id": "OPS",
                        "title": "New outside issue",
                        "priority": "{{ event.data.priority }}",
                    },
                }
            ],
        },
        {"data": {"priority": 1, "title": "URGENT: page everyone"}},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_event_number_reached_otherwise_is_outside_text(case: str) -> None:
    spec, event = CASES[case]
    step = (spec.get("on_problem") or spec["steps"])[0]
    items = event["data"]["priorities"] if "each" in step else [None]
    scope = {"event": event, "steps": [], "item": items[0], "problem": "a check failed"}
    arguments = render(step["arguments"], scope)
    assert arguments["priority"] == 1  # the event's sender chose it
    facts = new_facts()
    merge_facts(facts, event_facts(spec, event))
    traced = provenance.trace(arguments, facts)
    assert traced["priority"]["source"] == "untrusted", (
        f"{case}: the event's number is traced as {traced['priority']}"
    )
    assert rule_refuses(RULE, arguments, traced) is not None, (
        f"{case}: a standing rule would run a priority the outside event chose"
    )


LIST_RULE = StandingRule(
    tool="tracker__create_issue",
    approved_by="root",
    arguments_schema={
        "type": "object",
        "properties": {
            "team_id": {"enum": ["OPS"]},
            "title": {"enum": ["New outside issue"]},
            "estimates": {
                "type": "array",
                "items": {"type": "object", "properties": {"points": {"enum": [1, 2, 3, 5, 8]}}},
            },
        },
    },
)


def test_numbers_in_a_list_built_from_the_event_are_outside_text() -> None:
    """As the drafter's warehouse step builds `items` from `event.line_items`: the numbers in
    the list are the event sender's, not the model's (nor the spec's)."""
    spec = _spec(
        {
            "arguments": {
                "team_id": "OPS",
                "title": "New outside issue",
                "estimates": "{{ event.data.estimates | map('pick', 'points') | list }}",
            }
        }
    )
    event = {"data": {"estimates": [{"points": 8}], "title": "URGENT"}}
    arguments = render(spec["steps"][0]["arguments"], {"event": event, "steps": []})
    assert arguments["estimates"] == [{"points": 8}]
    facts = new_facts()
    merge_facts(facts, event_facts(spec, event))
    traced = provenance.trace(arguments, facts)
    assert traced["estimates/0/points"]["source"] == "untrusted", traced["estimates/0/points"]
    assert rule_refuses(LIST_RULE, arguments, traced) is not None


async def test_no_rule_runs_a_flag_the_event_chose_through_each(db_url: str, tmp_path: Path) -> None:
    """Through a real run: an admin's rule lets the workflow's fixed internal note run alone,
    with `public` a boolean (which a rule pins by its type). Taken as `{{ event.notify }}` the
    event's `true` is outside text and waits for a person (tests/services/test_workflow_event_
    values.py); looped over as `each: event.notify_list` / `{{ item }}`, the same `true` from the
    same outside payload waits for a person too."""
    c, _ = full_container(db_url, tmp_path)
    rules.create_rule(
        c.db,
        Principal("root", "admin", None),
        tool="helpdesk__add_comment",
        max_risk="medium",
        arguments_schema={
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "ticket_id": {"const": 2},
                "body": {"enum": ["A dispute opened."]},
                "public": {"type": "boolean"},
            },
        },
    )
    spec = {
        "name": "note on dispute",
        "trigger": {"connection": "payments", "event": "charge.dispute.created"},
        "steps": [
            {"tool": "helpdesk__get_ticket", "arguments": {"ticket_id": 2}},
            {
                "tool": "helpdesk__add_comment",
                "each": "event.notify_list",
                "arguments": {"ticket_id": 2, "body": "A dispute opened.", "public": "{{ item }}"},
            },
        ],
    }
    run_id = workflows.start(c.db, "wf-each", spec, {"notify_list": [True]}, "evt_each")
    await c.orchestrator.drain("w")
    view = run_view(c.db, run_id)
    await c.pool.aclose()
    [action] = view["actions"]
    assert action["arguments"]["public"] is True
    assert action["status"] == "pending", (
        f"a standing rule ran a public flag the outside event chose: {action['status']}, "
        f"decided by {action['decided_by']}; provenance {action['provenance']['public']}"
    )
    assert action["provenance"]["public"]["source"] == "untrusted", action["provenance"]["public"]
