"""A Container wired to a test database, a scripted model and in-process simulators."""

from __future__ import annotations

from typing import Any

from app.llm.base import ModelResponse, ToolCall, Usage
from app.llm.scripted import output, text
from evals.wiring import HELPDESK_URL as HELPDESK_URL
from evals.wiring import HostRouter as HostRouter
from evals.wiring import container as container
from evals.wiring import full_container as full_container
from evals.wiring import settings as settings


def triage_script(
    ticket_id: int, *, reply: str = "Thanks, we have refunded the duplicate charge."
) -> list[Any]:
    """What a well-behaved model answers for one ticket: classify, draft, propose two writes, finish."""
    return [
        output(
            {
                "category": "billing",
                "priority": "high",
                "sentiment": "negative",
                "language": "en",
                "confidence": 0.91,
                "rationale": "mentions a double charge",
            }
        ),
        output(
            {
                "body": reply,
                "sources": [{"id": 1, "title": "Refund policy", "url": "http://kb/1"}],
                "grounded": True,
            }
        ),
        ModelResponse(
            tool_calls=[
                ToolCall(
                    id="c1",
                    name="helpdesk__add_comment",
                    arguments={"ticket_id": ticket_id, "body": reply, "public": True},
                ),
                ToolCall(
                    id="c2",
                    name="helpdesk__update_ticket",
                    arguments={"ticket_id": ticket_id, "priority": "high", "add_tags": ["billing"]},
                ),
            ],
            stop_reason="tool_use",
            usage=Usage(input_tokens=100, output_tokens=20),
        ),
        text("Replied and set priority."),
    ]


def webhook_connections(c: Any, secrets: dict[str, str]) -> None:
    """A connection of each kind (named as the kind) on a stand-in address, each with the
    webhook secret its deliveries are signed with: what the webhook API tests receive on."""
    from app.services.connections import add_connection

    for kind, secret in secrets.items():
        add_connection(
            c.db,
            c.box,
            name=kind,
            kind=kind,
            base_url=f"http://{kind}.sim",
            auth_type="bearer",
            credentials={"token": "t", "webhook_secret": secret},
        )
