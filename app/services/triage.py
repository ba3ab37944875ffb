"""Ticket triage: classify → draft → act, as fixed typed steps over the durable run.

1. read: the help-desk ticket, the requester, and knowledge-base articles (grounding);
2. classify: structured output checked against the taxonomy's JSON Schema;
3. draft: a reply grounded in the articles, with its sources;
4. act: the model proposes writes (reply, priority, tags) through the gate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.agent.run import RunContext
from app.llm.prompts import PromptLibrary

DEFAULT_TAXONOMY = [
    {"name": "billing", "description": "invoices, charges, payment methods, pricing"},
    {"name": "refund", "description": "asks for money back or a refund's status"},
    {"name": "shipping", "description": "delivery, tracking, delays, returns logistics"},
    {"name": "account_access", "description": "login, password, two-factor, locked accounts"},
    {"name": "technical_issue", "description": "errors, bugs, outages, something not working"},
    {"name": "feature_request", "description": "asks for something the product does not do"},
    {"name": "cancellation", "description": "wants to cancel or downgrade a subscription"},
    {"name": "general_question", "description": "anything else"},
]

ACT_OPERATIONS = ("add_comment", "update_ticket", "create_ticket")


def classification_schema(categories: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "category": {"type": "string", "enum": categories},
            "priority": {"type": "string", "enum": ["low", "normal", "high", "urgent"]},
            "sentiment": {"type": "string", "enum": ["negative", "neutral", "positive"]},
            "language": {"type": "string", "minLength": 2, "maxLength": 8},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "rationale": {"type": "string"},
            "needs_review": {"type": "boolean"},
        },
        "required": ["category", "priority", "sentiment", "language", "confidence", "rationale"],
    }


DRAFT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "body": {"type": "string", "minLength": 1},
        "sources": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"id": {}, "title": {"type": "string"}, "url": {"type": "string"}},
                "required": ["id"],
            },
        },
        "grounded": {"type": "boolean"},
    },
    "required": ["body", "sources"],
}


class TriagePipeline:
    def __init__(
        self,
        prompts: PromptLibrary,
        *,
        connection: str = "helpdesk",
        taxonomy: list[dict[str, str]] | None = None,
        examples: Callable[[], list[dict[str, str]]] = list,
        review_threshold: float = 0.55,
    ):
        self.prompts = prompts
        self.connection = connection
        self.taxonomy = taxonomy or DEFAULT_TAXONOMY
        self.examples = examples
        self.review_threshold = review_threshold

    def _tool(self, ctx: RunContext, operation: str) -> str | None:
        name = f"{self.connection}__{operation}"
        return name if name in ctx.catalogue else None

    async def _requester(self, ctx: RunContext, ticket: dict[str, Any]) -> None:
        """A ticket that names its requester only by id (Zendesk webhooks and searches):
        read the user from the help desk, so the run knows who asked and whom to greet."""
        requester_id = ticket.get("requester_id")
        if ticket.get("requester_email") or requester_id is None:
            return
        if not (tool := self._tool(ctx, "get_user")):
            return
        out = await ctx.read("read:requester", tool, {"user_id": requester_id})
        if not out.is_error and isinstance(out.data, dict) and out.data.get("email"):
            ticket["requester_email"] = str(out.data["email"])
            if out.data.get("name"):
                ticket.setdefault("requester_name", str(out.data["name"]))

    async def _ground(
        self, ctx: RunContext, ticket: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        customer = None
        if (tool := self._tool(ctx, "find_user")) and ticket.get("requester_email"):
            out = await ctx.read("read:customer", tool, {"email": ticket["requester_email"]})
            customer = out.data if not out.is_error and isinstance(out.data, dict) else None
        articles: list[dict[str, Any]] = []
        if tool := self._tool(ctx, "search_articles"):
            query = ticket.get("subject") or ticket.get("body", "")[:200]
            out = await ctx.read("read:articles", tool, {"query": query[:200], "limit": 3})
            if not out.is_error and isinstance(out.data, list):
                articles = out.data
        return customer, articles

    async def __call__(self, ctx: RunContext) -> dict[str, Any]:
        ticket: dict[str, Any] = dict(ctx.run.input["ticket"])
        external_id = ticket.get("external_id")
        ticket["external_id"] = (
            int(external_id) if external_id is not None and str(external_id).isdigit() else external_id
        )
        await self._requester(ctx, ticket)
        ctx.know(
            requester_email=(ticket.get("requester_email") or "").lower() or None,
            ticket_id=ticket["external_id"],
            untrusted_text=[ticket.get("subject") or "", ticket.get("body") or ""],
        )
        if ticket["external_id"] is not None and (tool := self._tool(ctx, "get_ticket")):
            await ctx.read("read:ticket", tool, {"ticket_id": ticket["external_id"]})
        customer, articles = await self._ground(ctx, ticket)

        # classify
        categories = [c["name"] for c in self.taxonomy]
        variables: dict[str, Any] = {
            "ticket": _public(ticket),
            "taxonomy": self.taxonomy,
            "examples": self.examples(),
        }
        out = await ctx.structured(
            "classify",
            self.prompts.request(
                "triage/classify", variables, output_schema=classification_schema(categories)
            ),
        )
        out["needs_review"] = (
            bool(out.get("needs_review")) or float(out["confidence"]) < self.review_threshold
        )
        classification = ctx.record(
            "classification", "classification", out, run_fields={"classification": out}
        )

        # draft
        variables = {
            "ticket": _public(ticket),
            "classification": classification,
            "articles": articles,
            "customer": customer,
        }
        draft_out = await ctx.structured(
            "draft",
            self.prompts.request("triage/draft", variables, output_schema=DRAFT_SCHEMA, max_tokens=1500),
        )
        draft = ctx.record("draft", "draft", draft_out, run_fields={"draft": draft_out})

        # act
        tools = [
            t for t in ctx.catalogue.select(connections=[self.connection]) if t.operation in ACT_OPERATIONS
        ]
        variables = {
            "ticket": ticket,
            "classification": classification,
            "draft": draft,
            "connection": self.connection,
        }
        final = await ctx.agent_loop(
            "act",
            self.prompts.request("triage/act", variables),
            tools,
        )
        return {"summary": final.content}


def _public(ticket: dict[str, Any]) -> dict[str, Any]:
    return {
        k: ticket.get(k) for k in ("subject", "body", "requester_email", "tags") if ticket.get(k) is not None
    }
