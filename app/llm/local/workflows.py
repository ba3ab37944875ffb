"""The local engine's workflow drafts: a rule-based reading of "when X, do Y and Z".

It recognises the events connected systems announce (a dispute, a refund, a new
ticket, a chat message) and a few actions (open a ticket, post in a channel,
file an issue, add an internal note), and fills arguments with templates over
the event. Anything it does not recognise it leaves out, and says so in the name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

TRIGGERS = (
    (re.compile(r"\bdisputes?\b|\bchargebacks?\b", re.I), "payments", "charge.dispute.created"),
    (re.compile(r"\brefund(ed)?\b", re.I), "payments", "charge.refunded"),
    (
        re.compile(
            r"\b(new|incoming)\s+tickets?\b|\btickets?\s+(is\s+)?(created|opened|comes?\s+in|arrives?)\b",
            re.I,
        ),
        "helpdesk",
        "ticket.created",
    ),
    (re.compile(r"\bmessage\b.*\b(slack|chat|channel)\b", re.I), "chat", "message"),
)
CHANNEL = re.compile(r"#([a-z0-9_-]+)", re.I)

SUMMARY = {
    "charge.dispute.created": "Dispute {{ event.id }} opened on charge {{ event.charge }} for {{ '%.2f' % ((event.amount or 0) / 100) }} {{ (event.currency or '') | upper }} ({{ event.reason or 'no reason given' }})",
    "charge.refunded": "Charge {{ event.id }} was refunded: {{ '%.2f' % ((event.amount_refunded or 0) / 100) }} {{ (event.currency or '') | upper }}",
    "ticket.created": "New ticket #{{ event.id }}: {{ event.subject }}",
    "message": "Message in {{ event.channel }}: {{ event.text }}",
}


def _by_kind(connections: list[Mapping[str, Any]], kind: str) -> Mapping[str, Any] | None:
    return next((c for c in connections if c.get("kind") == kind), None)


def _tool(conn: Mapping[str, Any] | None, operation: str) -> str | None:
    if conn is None:
        return None
    name = f"{conn['name']}__{operation}"
    return name if any(t.get("name") == name for t in conn.get("tools") or []) else None


def draft(variables: Mapping[str, Any]) -> dict[str, Any]:
    request = str(variables.get("request") or "")
    connections = [c for c in variables.get("connections") or [] if isinstance(c, Mapping)]
    trigger = None
    for pattern, kind, event in TRIGGERS:
        conn = _by_kind(connections, kind)
        if pattern.search(request) and conn is not None and event in (conn.get("events") or []):
            trigger = {"connection": str(conn["name"]), "event": event}
            break
    if trigger is None:
        return {
            "name": "Not understood: no event from a connected system found in the request",
            "trigger": {"connection": "", "event": ""},
            "steps": [],
        }
    summary = SUMMARY[trigger["event"]]
    steps: list[dict[str, Any]] = []
    lowered = request.lower()
    helpdesk, chat, tracker = (_by_kind(connections, k) for k in ("helpdesk", "chat", "tracker"))
    if re.search(r"\b(open|create|raise|file)\s+(a\s+)?(new\s+)?ticket", lowered) and (
        tool := _tool(helpdesk, "create_ticket")
    ):
        steps.append(
            {
                "tool": tool,
                "arguments": {
                    "subject": summary,
                    "body": summary + ". Opened by a Switchboard workflow.",
                    "requester_email": "finance@northwind.example",
                    "priority": "high",
                    "tags": [
                        "workflow",
                        trigger["event"].split(".")[-2] if "." in trigger["event"] else "event",
                    ],
                },
            }
        )
    if re.search(r"\b(issue|bug)\b", lowered) and (tool := _tool(tracker, "create_issue")):
        steps.append(
            {"tool": tool, "arguments": {"team_id": "SUP", "title": summary, "description": summary}}
        )
    channels = CHANNEL.findall(request)
    if channels and (tool := _tool(chat, "post_message")):
        for channel in channels:
            text = summary
            if steps and steps[0]["tool"].endswith("__create_ticket"):
                text += " (ticket #{{ steps[0].result.ticket_id }})"
            steps.append({"tool": tool, "arguments": {"channel": f"#{channel}", "text": text}})
    name = request.strip().rstrip(".")[:120]
    return {"name": name[:1].upper() + name[1:], "trigger": trigger, "conditions": [], "steps": steps}
