"""Ticket triage: classify → draft → act, as fixed typed steps over the durable run.

1. read: the help-desk ticket, the requester, what every connected system knows about
   them (CRM contact, charges, refunds, disputes, recent tickets: `account`), and
   knowledge-base articles (grounding);
2. classify: structured output checked against the taxonomy's JSON Schema;
3. draft: a reply grounded in the articles and the account, with its sources;
4. act: the model proposes writes through the gate: the reply, priority and tags, and
   where they fit a refund of a charge it read, or a tracker issue for a bug.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.agent import outgoing
from app.agent.run import RunContext, RunFailed
from app.llm.names import clean_name
from app.llm.prompts import PromptLibrary
from app.text import digits

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

# Writes on other systems a triage may propose, by what their connectors tag them for
# (each still waits at the gate); on the ticket's own help desk it may propose any write.
ACROSS_TAGS = frozenset({"refund", "issue"})
ARTICLES_PER_SEARCH = 5


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
        trusted_domains: tuple[str, ...] = (),
    ):
        self.prompts = prompts
        self.trusted_domains = trusted_domains
        self.connection = connection
        self.taxonomy = taxonomy or DEFAULT_TAXONOMY
        self.examples = examples
        self.review_threshold = review_threshold

    def desk(self, ctx: RunContext) -> str:
        """The help desk the ticket belongs to (intake records it as the run's `system`): its
        tools read the ticket and take the writes, never another connection of the same kind.
        A run without one (queued before it was recorded), or whose system is no connected help
        desk (a channel such as an evaluation's), has the pipeline's configured help desk."""
        system = ctx.run.input.get("system")
        if system and f"{system}__get_ticket" in ctx.catalogue:
            return str(system)
        return self.connection

    def _tool(self, ctx: RunContext, operation: str) -> str | None:
        name = f"{self.desk(ctx)}__{operation}"
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
        query = f"{ticket.get('subject') or ''} {ticket.get('body') or ''}"
        return customer, await self._articles(ctx, "read:articles", query)

    async def _articles(self, ctx: RunContext, name: str, query: str) -> list[dict[str, Any]]:
        if not (tool := self._tool(ctx, "search_articles")) or not query.strip():
            return []
        out = await ctx.read(name, tool, {"query": query.strip()[:200], "limit": ARTICLES_PER_SEARCH})
        return out.data if not out.is_error and isinstance(out.data, list) else []

    def _clean_draft(self, ctx: RunContext, draft: dict[str, Any]) -> dict[str, Any]:
        """The draft without remote images or links, domains, numbers and addresses the run
        does not trust: a reply never points the customer anywhere on outside text's word."""
        return _strip(draft, outgoing.Trust.of(ctx.facts, self.trusted_domains))

    async def _classify(self, ctx: RunContext, ticket: dict[str, Any]) -> dict[str, Any]:
        categories = [c["name"] for c in self.taxonomy]
        variables: dict[str, Any] = {
            "ticket": _public(ticket),
            "taxonomy": self.taxonomy,
            # Read off the event loop, and only when the model is to be asked (not on a replay).
            "examples": [] if ctx.recorded("classify/0") else await ctx.io(self.examples),
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
        return await ctx.record("classification", "classification", out, run_fields={"classification": out})

    async def __call__(self, ctx: RunContext) -> dict[str, Any]:
        system = str(ctx.run.input.get("system") or self.connection)
        if f"{system}__get_ticket" not in ctx.catalogue and (why := ctx.catalogue.unavailable.get(system)):
            raise RunFailed(f"the ticket's help desk, connection {system}, cannot be used: {why}")
        ticket: dict[str, Any] = dict(ctx.run.input["ticket"])
        external_id = ticket.get("external_id")
        ticket["external_id"] = (
            int(external_id) if external_id is not None and digits(str(external_id)) else external_id
        )
        await self._requester(ctx, ticket)
        ctx.know(
            requester_email=(ticket.get("requester_email") or "").lower() or None,
            ticket_id=ticket["external_id"],
            untrusted_text=[ticket.get("subject") or "", ticket.get("body") or ""],
        )
        if ticket["external_id"] is not None and (tool := self._tool(ctx, "get_ticket")):
            read = await ctx.read("read:ticket", tool, {"ticket_id": ticket["external_id"]})
            if read.is_error:
                ctx.know(findings=[unread_ticket(ticket["external_id"], read.content)])
        customer, articles = await self._ground(ctx, ticket)
        account = await read_account(
            ctx, ticket.get("requester_email"), exclude=ticket["external_id"], desk=self.desk(ctx)
        )

        # classify (a replay that recorded the classification takes it: no prompt, no model answer)
        if (recorded := ctx.recorded("classification")) is not None:
            classification = recorded.data
        else:
            classification = await self._classify(ctx, ticket)
        # The run's own judgement: values the act step takes from it are trusted (provenance).
        ctx.know(
            classification={
                k: classification.get(k) for k in ("category", "priority", "sentiment", "language")
            }
        )

        # Search again in the words of the category: a ticket in another language, or in words
        # the knowledge base does not use, still finds the articles of its topic.
        topic = next((c for c in self.taxonomy if c["name"] == classification.get("category")), None)
        if topic is not None:
            words = f"{topic['name'].replace('_', ' ')} {topic.get('description') or ''}"
            seen = {a.get("id") for a in articles}
            articles += [
                a for a in await self._articles(ctx, "read:articles:topic", words) if a.get("id") not in seen
            ]

        # draft (as the classification, taken as recorded on a replay)
        if (recorded := ctx.recorded("draft")) is not None:
            draft = recorded.data
        else:
            variables: dict[str, Any] = {
                "ticket": _public(ticket),
                "classification": classification,
                "articles": articles,
                # a name is outside text: only its name words reach the drafting model
                "customer": {**customer, "name": clean_name(customer.get("name"))} if customer else None,
                "account": account,
            }
            draft_out = await ctx.structured(
                "draft",
                self.prompts.request("triage/draft", variables, output_schema=DRAFT_SCHEMA, max_tokens=1500),
            )
            draft_out = self._clean_draft(ctx, draft_out)
            draft = await ctx.record("draft", "draft", draft_out, run_fields={"draft": draft_out})

        # act
        writes = ctx.catalogue.select(effects=["write"])
        desk = self.desk(ctx)
        tools = [t for t in writes if t.connection == desk or ACROSS_TAGS & set(t.tags)]
        act: dict[str, Any] = {
            "ticket": ticket,
            "classification": classification,
            "draft": draft,
            "connection": desk,
            "account": account,
        }
        final = await ctx.agent_loop(
            "act",
            self.prompts.request("triage/act", act),
            tools,
        )
        return {"summary": final.content}


def _strip(draft: dict[str, Any], trust: outgoing.Trust) -> dict[str, Any]:
    body, removed = outgoing.strip_untrusted(str(draft.get("body") or ""), trust)
    if not removed:
        return draft
    return {**draft, "body": body, "removed": [{"kind": s.kind, "text": s.text} for s in removed]}


def _tool_for(ctx: RunContext, operation: str, *, on: str | None = None) -> str | None:
    """A read tool that performs `operation`: on the connection `on` when given, else the
    first connection that offers it (the requester's CRM, payments: other systems than the
    ticket's help desk)."""
    return next(
        (
            t.name
            for t in ctx.catalogue.select(effects=["read"])
            if t.operation == operation and (on is None or t.connection == on)
        ),
        None,
    )


def _pick(d: Any, *keys: str) -> dict[str, Any]:
    return {k: d.get(k) for k in keys if isinstance(d, dict) and d.get(k) is not None}


def unread_ticket(ticket_id: Any, error: str) -> dict[str, Any]:
    """A finding for the gate (policy.pipeline_findings): the run could not read its own ticket
    (none by that id, or the help desk refused), so every write that names the ticket is high
    risk, with the system's answer as the reason, instead of going to a ticket nobody saw."""
    return {
        "operation": "*",
        "match": {"ticket_id": ticket_id},
        "level": "high",
        "reason": f"ticket {ticket_id} could not be read in this run ({error[:160]}); check it exists",
    }


async def read_account(
    ctx: RunContext, email: str | None, *, exclude: Any = None, desk: str | None = None
) -> dict[str, Any]:
    """What the connected systems know about a requester, compact, each read recorded as a step.

    The CRM contact, the payment customer's charges (with refunds, and disputes on them),
    and their other tickets on the help desk `desk` (the ticket's own; without one, none are
    read). A system that is not connected, or does not know the address, is simply absent.
    The charges, refunds and disputes are read on the connection that found the customer:
    its ids mean nothing to another payments system.
    """
    account: dict[str, Any] = {}
    if not email:
        return account
    if tool := _tool_for(ctx, "find_contact"):
        out = await ctx.read("read:account:contact", tool, {"email": email})
        if not out.is_error and isinstance(out.data, dict):
            props = out.data.get("properties") or out.data
            account["contact"] = _pick(
                props, "firstname", "lastname", "company", "jobtitle", "city", "country", "lifecyclestage"
            )
    tool = _tool_for(ctx, "find_customer")
    payments = ctx.catalogue.get(tool).connection if tool else None
    if tool and (charges_tool := _tool_for(ctx, "list_charges", on=payments)):
        out = await ctx.read("read:account:customer", tool, {"email": email})
        customer = out.data if not out.is_error and isinstance(out.data, dict) else None
        if customer and customer.get("id"):
            account["customer"] = _pick(customer, "id", "name", "email", "currency")
            got = await ctx.read(
                "read:account:charges", charges_tool, {"customer_id": customer["id"], "limit": 10}
            )
            charges = got.data if not got.is_error and isinstance(got.data, list) else []
            account["charges"] = [
                {
                    **_pick(
                        ch,
                        "id",
                        "amount",
                        "amount_refunded",
                        "currency",
                        "description",
                        "refunded",
                        "disputed",
                        "created",
                    ),
                    "order": (ch.get("metadata") or {}).get("order_id"),
                }
                for ch in charges
                if isinstance(ch, dict)
            ]
            refunds_tool = _tool_for(ctx, "list_refunds", on=payments)
            for ch in account["charges"]:
                if refunds_tool and ch.get("amount_refunded"):
                    got = await ctx.read(
                        f"read:account:refunds:{ch['id']}", refunds_tool, {"charge_id": ch["id"]}
                    )
                    ch["refunds"] = [
                        {
                            **_pick(r, "id", "amount", "status", "created"),
                            "reference": ((r.get("destination_details") or {}).get("card") or {}).get(
                                "reference"
                            ),
                        }
                        for r in (got.data if not got.is_error and isinstance(got.data, list) else [])
                        if isinstance(r, dict)
                    ]
            ids = {ch["id"] for ch in account["charges"]}
            if ids and (tool := _tool_for(ctx, "list_disputes", on=payments)):
                got = await ctx.read("read:account:disputes", tool, {"limit": 50})
                account["disputes"] = [
                    _pick(d, "id", "charge", "amount", "currency", "reason", "status")
                    for d in (got.data if not got.is_error and isinstance(got.data, list) else [])
                    if isinstance(d, dict) and d.get("charge") in ids
                ]
    if desk is not None and (tool := _tool_for(ctx, "search_tickets", on=desk)):
        out = await ctx.read("read:account:tickets", tool, {"query": f"requester:{email}"})
        if not out.is_error and isinstance(out.data, list):
            account["tickets"] = [
                _pick(t, "id", "subject", "status", "priority")
                for t in out.data
                if isinstance(t, dict) and t.get("id") != exclude
            ][:10]
    return account


def _public(ticket: dict[str, Any]) -> dict[str, Any]:
    return {
        k: ticket.get(k) for k in ("subject", "body", "requester_email", "tags") if ticket.get(k) is not None
    }
