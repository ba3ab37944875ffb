"""With two help desks (the README adds `desk` to show configuration), a workflow drafts against
the one configured for workflows, and a missing default names the connection that lacks it."""

from __future__ import annotations

from typing import Any

from app.llm.local import workflows
from app.services.workflows import events_of

DISPUTE = "When a dispute opens in payments, open a ticket and post in #billing"


def _conn(name: str, kind: str, ops: list[str], defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "kind": kind,
        "events": events_of(kind),
        "tools": [{"name": f"{name}__{op}", "effect": "write", "schema": {}} for op in ops],
        "defaults": defaults or {},
    }


def test_a_second_help_desk_without_defaults_is_named_or_skipped() -> None:
    connections = [
        _conn("chat", "chat", ["post_message"]),
        _conn("desk", "helpdesk", ["create_ticket"]),  # added by `switchboard connections add desk`
        _conn(
            "helpdesk",
            "helpdesk",
            ["create_ticket"],
            {"create_ticket": {"requester_email": "orders@northwind.example"}},
        ),
        _conn("payments", "payments", ["get_charge"]),
    ]
    spec = workflows.draft({"request": DISPUTE, "connections": connections})
    notes = spec.get("not_understood") or []
    tools = [s["tool"] for s in spec["steps"]]
    # either the configured help desk is used, or the note says which connection lacks the default
    assert "helpdesk__create_ticket" in tools or any("desk" in n.replace("help desk", "") for n in notes), (
        tools,
        notes,
    )
