"""A number a workflow step takes from its event is the event's at run time, whatever the step's
template would render to before the run.

A template that reads the earlier steps' results or the problem text (`if steps`, `if problem`)
cannot be rendered before the run: the whole argument path is the event's. Such a value is
traced `untrusted` (the event sent it) and a standing rule whose schema lists it refuses it, as
it does for a plain `{{ event.data.priority }}`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from app.agent import provenance
from app.agent.policy import StandingRule, merge_facts, new_facts, rule_refuses
from app.services.workflow_engine import Outcome, execute
from app.services.workflows import event_facts

TOOL = "tracker__create_issue"
RULE = StandingRule(
    tool=TOOL,
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
# Priority 1 is what the outside sender chose; the spec's own default is 4.
EVENT = {"data": {"priority": 1, "title": "whatever the sender wrote", "ticket_id": 7}}


def _run(spec: dict[str, Any]) -> dict[str, Any]:
    """Drive the real engine; return the arguments the tracker write reached the gate with."""
    written: dict[str, Any] = {}

    async def call(key: str, tool: str, arguments: dict[str, Any]) -> Outcome:
        if tool == TOOL:
            written.update(arguments)
            return Outcome({"id": "ISS-1"})
        return Outcome({"id": 7, "status": "open"})  # the read step

    asyncio.run(execute(spec, EVENT, call))
    return written


def _refused(spec: dict[str, Any]) -> tuple[str | None, dict[str, Any], dict[str, Any]]:
    arguments = _run(spec)
    assert arguments["priority"] == 1, arguments  # at run time the event's number is written
    facts = new_facts()
    merge_facts(facts, event_facts(spec, EVENT))
    traced = provenance.trace(arguments, facts, tool=TOOL)
    return rule_refuses(RULE, arguments, traced), traced, facts


def test_a_step_reading_steps_and_the_event_keeps_the_events_number_untrusted() -> None:
    spec = {
        "name": "follow up on tickets",
        "trigger": {"connection": "helpdesk", "event": "ticket.created"},
        "steps": [
            {"tool": "helpdesk__get_ticket", "arguments": {"ticket_id": 7}},
            {
                "tool": TOOL,
                "arguments": {
                    "team_id": "OPS",
                    "title": "Follow-up review",
                    "priority": "{{ 4 if not steps else event.data.priority }}",
                },
            },
        ],
    }
    refused, traced, facts = _refused(spec)
    assert traced["priority"]["source"] == "untrusted", (
        "priority 1 was sent by the event (it renders `event.data.priority` once step 0 has run), "
        f"but it is traced {traced['priority']}; event_values before the run: {facts['event_values']}"
    )
    assert refused is not None, "the standing rule runs a priority the event chose"


def test_an_on_problem_step_reading_problem_and_the_event_keeps_the_events_number_untrusted() -> None:
    spec = {
        "name": "hand open tickets to a person",
        "trigger": {"connection": "helpdesk", "event": "ticket.created"},
        "steps": [
            {
                "tool": "helpdesk__get_ticket",
                "arguments": {"ticket_id": 7},
                "check": [
                    {"field": "result.status", "op": "equals", "value": "solved", "problem": "not solved"}
                ],
            },
        ],
        "on_problem": [
            {
                "tool": TOOL,
                "arguments": {
                    "team_id": "OPS",
                    "title": "Follow-up review",
                    "priority": "{{ event.data.priority if problem else 4 }}",
                },
            }
        ],
    }
    refused, traced, facts = _refused(spec)
    assert traced["priority"]["source"] == "untrusted", (
        "priority 1 was sent by the event (an on_problem step always runs with a problem), but it "
        f"is traced {traced['priority']}; event_values before the run: {facts['event_values']}"
    )
    assert refused is not None, "the standing rule runs a priority the event chose"
