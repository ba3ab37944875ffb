"""Triage and chat with the local model over every demo system: the account read across
systems, drafts from whole passages and the run's facts, refunds, bug issues, spam, and
multi-step chat plans. The stories are the demo's seeded ones (connectors/*/seed.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.services import chat, intake
from app.services.auth import Principal
from app.services.views import run_view
from evals.wiring import demo_container


@pytest.fixture
async def demo(tmp_path: Path):  # type: ignore[no-untyped-def]
    c, _ = demo_container(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path)
    yield c
    await c.pool.aclose()


async def triage(c: Any, subject: str, body: str, email: str) -> dict[str, Any]:
    created = await c.pool.connector("helpdesk").create_ticket(
        subject=subject, body=body, requester_email=email
    )
    payload = {
        "subject": subject,
        "body": body,
        "requester_email": email,
        "external_id": created["ticket_id"],
    }
    run_id, _ = intake.submit(c.db, kind="ticket", run_kind="triage", payload=payload, source="t", actor="t")
    await c.orchestrator.drain("w")
    return run_view(c.db, run_id)


async def ask(c: Any, question: str) -> dict[str, Any]:
    run_id, _ = chat.start_turn(c.db, question, None, Principal("lee", "operator"))
    await c.orchestrator.drain("w")
    return run_view(c.db, run_id)


def ops(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["operation"]: a["arguments"] for a in view["actions"]}


async def test_duplicate_charge_gets_a_refund_of_the_second_charge_and_a_reply_naming_it(demo: Any) -> None:
    view = await triage(
        demo,
        "Charged twice for Plus",
        "My card shows the Plus renewal twice. Please refund the duplicate.",
        "raj.patel@example.org",
    )
    charges = await demo.pool.connector("payments").list_charges(
        customer_id=(await demo.pool.connector("payments").find_customer(email="raj.patel@example.org"))["id"]
    )
    renewals = sorted(
        (c for c in charges if c["created"] > max(c["created"] for c in charges) - 3 * 86400),
        key=lambda c: c["created"],
    )
    actions = ops(view)
    assert actions["create_refund"]["charge_id"] == renewals[-1]["id"]  # the later of the two
    body = view["draft"]["body"]
    assert "two charges of $9.99" in body and "duplicate" in body
    # The article's list is quoted whole: the lead-in and all three of its items.
    assert "usually one of these:" in body and "A genuine duplicate." in body and "A split shipment." in body
    reads = [
        s["data"]["tool"]
        for s in view["steps"]
        if s["kind"] == "tool_call" and s["data"].get("effect") == "read"
    ]
    assert {
        "crm__find_contact",
        "payments__find_customer",
        "payments__list_charges",
        "payments__list_disputes",
    } <= set(reads)


async def test_a_refunded_and_disputed_order_is_explained_not_refunded_again(demo: Any) -> None:
    view = await triage(
        demo,
        "Where is my refund",
        "I returned the standing desk NW-45530 and have no refund. Third time asking!",
        "kevin.doyle@example.net",
    )
    body = view["draft"]["body"]
    assert "74567890123456789012345" in body and "dispute" in body and "NW-45530" in body
    assert "create_refund" not in ops(view)


async def test_a_bug_becomes_a_tracker_issue_and_spam_is_solved_without_a_reply(demo: Any) -> None:
    bug = await triage(
        demo,
        "App crashes",
        "The iPhone app crashes every time I open my order history.",
        "olivia.brooks@example.com",
    )
    assert ops(bug)["create_issue"]["team_id"] == "ENG"
    assert bug["classification"]["priority"] == "high"
    spam = await triage(
        demo,
        "You have won a prize",
        "Congratulations! Claim your gift card by clicking the link below.",
        "win@example.biz",
    )
    assert ops(spam) == {
        "update_ticket": {
            "ticket_id": spam["input"]["ticket"]["external_id"],
            "status": "solved",
            "add_tags": ["spam"],
        }
    }


async def test_german_invoice_ticket_finds_the_invoice_article(demo: Any) -> None:
    view = await triage(
        demo,
        "Rechnung benötigt",
        "Hallo, ich brauche eine Rechnung mit unserer USt-IdNr. Wo kann ich sie herunterladen?",
        "jonas.weber@example.org",
    )
    assert view["classification"]["category"] == "billing"
    assert [s["title"] for s in view["draft"]["sources"]] == ["Download invoices and receipts"]


async def test_chat_answers_across_two_systems(demo: Any) -> None:
    view = await ask(demo, "Which open tickets are from customers who have a disputed charge?")
    answer = view["result"]["answer"]
    assert "Kevin Doyle" in answer and "#7" in answer
    tools = [s["data"]["tool"] for s in view["steps"] if s["kind"] == "tool_call"]
    assert tools[0] == "payments__list_disputes" and "helpdesk__search_tickets" in tools


async def test_chat_who_is_reads_three_systems(demo: Any) -> None:
    answer = (await ask(demo, "Who is ann.lee@example.com?"))["result"]["answer"]
    assert "Ann Lee" in answer and "Seattle" in answer and "lead" in answer


async def test_chat_refund_request_becomes_a_proposed_refund(demo: Any) -> None:
    view = await ask(demo, "Refund order NW-48102 for dana.whitfield@example.com")
    assert view["status"] == "waiting_approval"
    [refund] = [a for a in view["actions"] if a["operation"] == "create_refund"]
    charge = await demo.pool.connector("payments").get_charge(charge_id=refund["arguments"]["charge_id"])
    assert charge["metadata"]["order_id"] == "NW-48102"
    by_name = await ask(demo, "Refund Raj Patel's duplicate Northwind Plus charge")
    assert "can't find a customer by name" in by_name["result"]["answer"] and by_name["actions"] == []
