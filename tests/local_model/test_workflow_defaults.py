"""Workflow drafts take the tracker team and the ticket requester from the connections' configuration."""

from __future__ import annotations

from typing import Any

from app.llm.local import workflows
from app.services.workflows import events_of

BUGS = "When a new ticket mentions a bug, file an issue in the tracker"


def _connections(defaults: dict[str, Any]) -> list[dict[str, Any]]:
    def conn(name: str, ops: list[str]) -> dict[str, Any]:
        return {
            "name": name,
            "kind": name,
            "events": events_of(name),
            "tools": [{"name": f"{name}__{op}", "effect": "write", "schema": {}} for op in ops],
            "defaults": defaults.get(name, {}),
        }

    return [conn("helpdesk", ["create_ticket"]), conn("tracker", ["create_issue"])]


def test_the_team_comes_from_the_tracker_connections_defaults() -> None:
    spec = workflows.draft(
        {"request": BUGS, "connections": _connections({"tracker": {"create_issue": {"team_id": "OPS"}}})}
    )
    [step] = spec["steps"]
    assert step["tool"] == "tracker__create_issue" and step["arguments"]["team_id"] == "OPS"


def test_without_a_configured_team_the_draft_says_what_to_set() -> None:
    spec = workflows.draft({"request": BUGS, "connections": _connections({})})
    assert not spec["steps"]
    assert any("team" in note and "defaults" in note for note in spec["not_understood"])
