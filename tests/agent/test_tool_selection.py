"""Choosing the tools a turn offers: relevance, a core, a bounded size, and search_tools."""

from __future__ import annotations

from typing import Any

from tools.base import Tool
from tools.selection import SEARCH_TOOL, ToolOffer, search_tool, select


async def _none(arguments: dict[str, Any], key: str | None) -> Any:
    return None


def _tool(connection: str, operation: str, description: str, *params: str, effect: str = "read") -> Tool:
    return Tool(
        name=f"{connection}__{operation}",
        connection=connection,
        operation=operation,
        description=f"[{connection}, {effect}] {description}",
        input_schema={"type": "object", "properties": {p: {"type": "string"} for p in params}},
        effect=effect,  # type: ignore[arg-type]
        idempotency="none",
        invoke=_none,
    )


CATALOGUE = [
    _tool("helpdesk", "get_ticket", "Fetch one ticket: subject, status, priority.", "ticket_id"),
    _tool("helpdesk", "search_articles", "Search the knowledge base for policy articles.", "query"),
    _tool("helpdesk", "add_comment", "Add a comment to a ticket.", "ticket_id", "body", effect="write"),
    _tool("payments", "find_customer", "Look up a customer by exact email address.", "email"),
    _tool("payments", "list_charges", "A customer's charges, newest first.", "customer_id"),
    _tool("payments", "list_disputes", "Disputes (chargebacks), newest first.", "status"),
    _tool("crm", "list_deals", "Deals associated with a contact.", "contact_id"),
    _tool("tracker", "search_issues", "Full-text search over issue titles.", "query"),
    *[_tool("petstore", f"pet_op_{i}", f"Pet store operation {i} on pets.", "petId") for i in range(20)],
]


def test_the_tools_a_question_needs_rank_first() -> None:
    assert set(select(CATALOGUE, "What has ann@example.com been charged?", limit=2)) == {
        "payments__find_customer",
        "payments__list_charges",
    }
    assert select(CATALOGUE, "Which disputes are open?", limit=1) == ["payments__list_disputes"]
    assert "tracker__search_issues" in select(CATALOGUE, "Is there a tracker issue about the crash?", limit=2)


def test_the_core_is_always_offered_and_the_size_is_bounded() -> None:
    core = ("*__search_articles",)
    for question in ("hello", "Which disputes are open?", "pets pets pets"):
        chosen = select(CATALOGUE, question, limit=4, core=core)
        assert chosen[0] == "helpdesk__search_articles" and len(chosen) <= 4


def test_earlier_turns_inform_the_choice() -> None:
    alone = select(CATALOGUE, "and their charges?", limit=2)
    with_context = select(CATALOGUE, "and what about them?", ["Who is ann@example.com?"], limit=2)
    assert "payments__list_charges" in alone
    assert "payments__find_customer" in with_context


async def test_search_tools_finds_only_what_it_was_given() -> None:
    reads = [t for t in CATALOGUE if not t.is_write]
    found = await search_tool(reads).invoke({"query": "add a comment to a ticket"}, None)
    assert "helpdesk__add_comment" not in [t["name"] for t in found["tools"]]
    found = await search_tool(CATALOGUE).invoke({"query": "add a comment to a ticket", "limit": 1}, None)
    assert [t["name"] for t in found["tools"]] == ["helpdesk__add_comment"]


def test_an_offer_widens_by_search_and_keeps_catalogue_order() -> None:
    allowed = {t.name: t for t in [*CATALOGUE, search_tool(CATALOGUE)]}
    offer = ToolOffer(allowed, ["payments__list_charges", SEARCH_TOOL])
    wider = offer.with_names(offer.widened([{"query": "fetch a ticket", "limit": 1}]))
    assert [t.name for t in wider.tools()] == ["helpdesk__get_ticket", "payments__list_charges", SEARCH_TOOL]
    assert offer.with_names(["gone__tool", SEARCH_TOOL]).offered == [SEARCH_TOOL]  # a removed tool drops out
