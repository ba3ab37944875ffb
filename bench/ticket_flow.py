"""One ticket's own work, outside any engine: what every variant of the cost bench does alike.

The help desk answers in-process (its simulator behind an ASGI transport), the model
answers at once from a script keyed by prompt, and the prompts are the product's own
templates. Switchboard runs this through its pipeline; LangGraph and DBOS run the same
calls as graph nodes or workflow steps; `bare` calls them one after the other with no
durability at all, so what each engine adds on top is its framework cost.
"""

from __future__ import annotations

import contextlib
import copy
import sqlite3
from pathlib import Path
from typing import Any

import httpx
from jsonschema import Draft202012Validator

from app.llm.base import Message, ModelRequest, ModelResponse, ToolCall, ToolSpec, Usage
from app.llm.prompts import default_library
from app.llm.scripted import ScriptedModel, output, text
from app.services.triage import DEFAULT_TAXONOMY, DRAFT_SCHEMA, classification_schema
from connectors.helpdesk.client import HelpdeskConnector
from connectors.helpdesk.simulator import create_app
from connectors.http import NO_RETRY, build_client, zendesk_token_auth

HELPDESK_URL = "http://helpdesk.sim"
EMAIL, TOKEN = "switchboard@northwind.example", "s3cr3t-helpdesk-token"
FIRST_TICKET = 1000  # the bench's tickets are copies of a seeded one, numbered from here
REPLY = "Thanks, we have refunded the duplicate charge."
CLASSIFICATION = {
    "category": "billing",
    "priority": "high",
    "sentiment": "negative",
    "language": "en",
    "confidence": 0.91,
    "rationale": "mentions a double charge",
}
DRAFT = {
    "body": REPLY,
    "sources": [{"id": 1, "title": "Refund policy", "url": "http://kb/1"}],
    "grounded": True,
}


def stored_bytes(db_path: Path) -> int:
    """The database's size on disk with its write-ahead log folded in and emptied, so the figure
    is what is stored, not how far the log grew before its last checkpoint."""
    with contextlib.closing(sqlite3.connect(db_path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in db_path.parent.glob(db_path.name + "*"))


def help_desk(tickets: int) -> Any:
    """The simulator with `tickets` fresh tickets (copies of ticket 1), so each run writes to its own."""
    sim = create_app()
    state = sim.state.helpdesk
    for i in range(tickets):
        k = FIRST_TICKET + i
        state.tickets[k] = {**copy.deepcopy(state.tickets[1]), "id": k}
        state.comments[k] = copy.deepcopy(state.comments[1])
        state.audits[k] = copy.deepcopy(state.audits[1])
    return sim


def ticket_payload(i: int) -> dict[str, Any]:
    return {
        "subject": "Charged twice",
        "body": "I was billed twice in March.",
        "requester_email": "ann@example.com",
        "external_id": FIRST_TICKET + i,
    }


def respond(request: ModelRequest) -> ModelResponse:
    """A zero-latency model: classify, draft, propose one reply, then finish."""
    prompt = request.prompt or ""
    if prompt.startswith("triage/classify"):
        return output(CLASSIFICATION)
    if prompt.startswith("triage/draft"):
        return output(DRAFT)
    if any(m.role == "tool" for m in request.messages):
        return text("Replied to the customer.")
    ticket_id = int(request.variables["ticket"]["external_id"])
    call = ToolCall(
        id="c1",
        name="helpdesk__add_comment",
        arguments={"ticket_id": ticket_id, "body": REPLY, "public": True},
    )
    return ModelResponse(
        tool_calls=[call], stop_reason="tool_use", usage=Usage(input_tokens=100, output_tokens=20)
    )


def model() -> ScriptedModel:
    return ScriptedModel(fallback=respond)


class TicketWork:
    """The calls one ticket makes, each a plain coroutine returning JSON-able data (a node or a step)."""

    def __init__(self, sim: Any):
        client = build_client(
            HELPDESK_URL,
            auth=zendesk_token_auth(EMAIL, TOKEN),
            retry=NO_RETRY,
            transport=httpx.ASGITransport(app=sim),
        )
        self.desk = HelpdeskConnector(client, {})
        self.model = model()
        self.prompts = default_library()
        categories = [c["name"] for c in DEFAULT_TAXONOMY]
        self.classify_schema = classification_schema(categories)
        self.validators = {
            "classify": Draft202012Validator(self.classify_schema),
            "draft": Draft202012Validator(DRAFT_SCHEMA),
        }
        self.act_tools = [
            ToolSpec(
                name="helpdesk__add_comment",
                description="Add a comment to a ticket.",
                input_schema={"type": "object", "properties": {"ticket_id": {"type": "integer"}}},
            )
        ]

    async def read(self, ticket: dict[str, Any]) -> dict[str, Any]:
        """The grounding reads the triage pipeline makes on the help desk alone."""
        tid = ticket["external_id"]
        return {
            "ticket": await self.desk.get_ticket(tid),
            "customer": await self.desk.find_user(ticket["requester_email"]),
            "articles": await self.desk.search_articles(f"{ticket['subject']} {ticket['body']}", limit=5),
            "tickets": await self.desk.search_tickets(f"requester:{ticket['requester_email']}"),
        }

    async def _structured(self, name: str, request: ModelRequest) -> dict[str, Any]:
        response = await self.model.complete(request)
        out = response.output or {}
        errors = [e.message for e in self.validators[name].iter_errors(out)]
        if errors:
            raise ValueError(f"{name}: {errors}")
        return dict(out)

    async def classify(self, ticket: dict[str, Any]) -> dict[str, Any]:
        variables = {"ticket": ticket, "taxonomy": DEFAULT_TAXONOMY, "examples": []}
        request = self.prompts.request("triage/classify", variables, output_schema=self.classify_schema)
        return await self._structured("classify", request)

    async def draft(
        self, ticket: dict[str, Any], classification: dict[str, Any], reads: dict[str, Any]
    ) -> dict[str, Any]:
        topic = next(t for t in DEFAULT_TAXONOMY if t["name"] == classification["category"])
        words = f"{topic['name'].replace('_', ' ')} {topic.get('description') or ''}"
        topic = await self.desk.search_articles(words.strip()[:200], limit=5)
        variables = {
            "ticket": ticket,
            "classification": classification,
            "articles": [*reads["articles"], *topic],
            "customer": reads["customer"],
            "account": {"tickets": reads["tickets"]},
        }
        request = self.prompts.request("triage/draft", variables, output_schema=DRAFT_SCHEMA, max_tokens=1500)
        return await self._structured("draft", request)

    def act_request(
        self, ticket: dict[str, Any], classification: dict[str, Any], draft: dict[str, Any]
    ) -> ModelRequest:
        variables = {
            "ticket": ticket,
            "classification": classification,
            "draft": draft,
            "connection": "helpdesk",
            "account": None,
        }
        request = self.prompts.request("triage/act", variables)
        return request.model_copy(update={"tools": self.act_tools})

    async def act(self, request: ModelRequest) -> dict[str, Any]:
        """The model proposes the write; returns the tool call (for the approver)."""
        response = await self.model.complete(request)
        return response.tool_calls[0].model_dump()

    async def execute(self, call: dict[str, Any], key: str) -> dict[str, Any]:
        """The approved write, with the key the help desk deduplicates on (exactly once)."""
        return await self.desk.add_comment(**call["arguments"], idempotency_key=key)

    async def finish(self, request: ModelRequest, call: dict[str, Any], result: dict[str, Any]) -> str:
        messages = [
            *request.messages,
            Message(role="assistant", tool_calls=[ToolCall.model_validate(call)]),
            Message(role="tool", tool_call_id=call["id"], content=str(result)),
        ]
        response = await self.model.complete(request.model_copy(update={"messages": messages}))
        return response.content

    async def aclose(self) -> None:
        await self.desk.client.aclose()


async def bare(work: TicketWork, i: int) -> str:
    """The ticket with no engine: the floor every framework's cost is measured above."""
    ticket = ticket_payload(i)
    reads = await work.read(ticket)
    classification = await work.classify(ticket)
    draft = await work.draft(ticket, classification, reads)
    request = work.act_request(ticket, classification, draft)
    call = await work.act(request)
    result = await work.execute(call, f"bare-{i}")
    return await work.finish(request, call, result)
