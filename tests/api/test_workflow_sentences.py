"""Four sentences, each drafted by the local model into a workflow, activated by a second
person, and run on signed events (or a schedule slot) against every system's simulator
over loopback HTTP. Every write waits at the gate unless a standing rule allows it; a
payment not captured or an item out of stock stops the order chain with a ticket."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx

from app.services import schedules
from app.services.views import run_view
from app.store.tables import Workflow
from connectors.helpdesk import webhooks as zendesk
from tests.support.systems import Systems

ORDER_CHAIN = (
    "When an order is paid in the shop, check the payment, send it to the warehouse, "
    "log it on the customer in the CRM and post in #orders"
)
DISPUTE = "When a dispute opens in payments, open a ticket and post in #billing"
DAILY_COUNT = "Every morning at 8, post the count of urgent open tickets to #support"
BUGS = "When a new ticket mentions a bug, file an issue in the tracker and post in #engineering"


async def draft_and_activate(
    api: httpx.AsyncClient, people: dict[str, dict[str, str]], sentence: str
) -> dict[str, Any]:
    r = await api.post("/api/v1/workflows", json={"request": sentence}, headers=people["olivia"])
    assert r.status_code == 201, r.text
    draft = r.json()
    assert draft["problems"] == [], draft["problems"]
    own = await api.post(f"/api/v1/workflows/{draft['id']}/activate", headers=people["olivia"])
    assert own.status_code == 403  # an operator may not activate at all
    r = await api.post(f"/api/v1/workflows/{draft['id']}/activate", headers=people["adam"])
    assert r.status_code == 200 and r.json()["status"] == "active", r.text
    return draft


async def webhook(api: httpx.AsyncClient, connection: str, body: bytes, headers: dict[str, str]) -> list[str]:
    r = await api.post(f"/api/v1/webhooks/{connection}", content=body, headers=headers)
    assert r.status_code == 202, r.text
    runs: list[str] = r.json()["workflow_runs"]
    return runs


async def settle(
    sy: Systems, api: httpx.AsyncClient, people: dict[str, dict[str, str]], run_id: str
) -> list[str]:
    """Drain the run, approving each write it proposes in turn; returns the tools approved.
    Before each approval, nothing of that write has reached its system."""
    approved = []
    for _ in range(12):
        await sy.c.orchestrator.drain("w")
        run = run_view(sy.c.db, run_id)
        pending = [a for a in run["actions"] if a["status"] == "pending"]
        if not pending:
            assert run["status"] == "succeeded", (run["status"], run["error"])
            return approved
        [action] = pending
        r = await api.post(f"/api/v1/approvals/{action['id']}/approve", headers=people["adam"])
        assert r.status_code == 200, r.text
        approved.append(f"{action['connection']}__{action['operation']}")
    raise AssertionError("the run did not settle")


def shipments_for(sy: Systems, order_number: int) -> list[dict[str, Any]]:
    return [s for s in sy.state("warehouse").shipments.values() if s["shipment_number"] == str(order_number)]


def channel_texts(sy: Systems, name: str) -> list[str]:
    chat = sy.state("chat").snapshot()
    cid = next(c["id"] for c in chat["channels"] if c["name"] == name)
    messages = chat["messages"]
    listed = (
        messages.get(cid, [])
        if isinstance(messages, dict)
        else [m for m in messages if m.get("channel") == cid]
    )
    return [m.get("text", "") for m in listed]


async def test_order_chain_from_one_sentence(world: Any) -> None:
    sy, api, people = world
    draft = await draft_and_activate(api, people, ORDER_CHAIN)
    spec = draft["spec"]
    assert spec["trigger"] == {"connection": "shop", "event": "orders/paid"}
    assert [s["tool"] for s in spec["steps"]] == [
        "shop__get_order_payment",
        "payments__get_charge",
        "inventory__lookup_sku",
        "warehouse__create_shipment",
        "crm__find_contact",
        "crm__add_note",
        "chat__post_message",
    ]
    assert spec["steps"][2]["each"] == "event.line_items"
    assert [s["tool"] for s in spec["on_problem"]] == ["helpdesk__create_ticket"]

    # a paid order: reads run at once, then each write waits for a person, in order
    charge = sy.charge("raj.patel@example.org", 12900)
    order, body, headers = sy.order_paid("raj.patel@example.org", [("NW-BLND-129", 1)], charge)
    forged = await api.post(
        "/api/v1/webhooks/shop",
        content=body,
        headers={**headers, "X-Shopify-Hmac-Sha256": "bm90IGEgc2lnbmF0dXJl"},
    )
    assert forged.status_code == 401
    [run_id] = await webhook(api, "shop", body, headers)
    assert await webhook(api, "shop", body, headers) == [run_id]  # redelivery: the same run
    await sy.c.orchestrator.drain("w")
    run = run_view(sy.c.db, run_id)
    [pending] = [a for a in run["actions"] if a["status"] == "pending"]
    assert pending["operation"] == "create_shipment" and pending["arguments"]["order_number"] == str(
        order["order_number"]
    )
    assert pending["arguments"]["ship_to"]["state_province"] == "CA"
    assert pending["arguments"]["items"] == [
        {"sku": "NW-BLND-129", "name": "Vitamix-style blender, 2 L", "quantity": 1}
    ]
    assert shipments_for(sy, order["order_number"]) == []  # nothing sent before approval
    approved = await settle(sy, api, people, run_id)
    assert approved == ["warehouse__create_shipment", "crm__add_note", "chat__post_message"]
    [shipment] = shipments_for(sy, order["order_number"])
    assert shipment["ship_to"]["city_locality"] == "San Jose"
    notes = json.dumps(sy.state("crm").snapshot())
    assert f"Order {order['name']} paid by raj.patel@example.org" in notes
    assert any(order["name"] in t and shipment["shipment_id"] in t for t in channel_texts(sy, "orders"))

    # a payment not captured: the chain stops with a ticket for a person, nothing goes to the warehouse
    tickets_before = len(sy.state("helpdesk").tickets)
    held = sy.charge("dana.whitfield@example.com", 12900, captured=False)
    order2, body, headers = sy.order_paid("dana.whitfield@example.com", [("NW-BLND-129", 1)], held)
    [run2] = await webhook(api, "shop", body, headers)
    assert await settle(sy, api, people, run2) == ["helpdesk__create_ticket"]
    result = run_view(sy.c.db, run2)["result"]
    assert result["stopped_at"] == 1 and "not captured" in result["problem"]
    assert shipments_for(sy, order2["order_number"]) == []
    new_tickets = list(sy.state("helpdesk").tickets.values())[tickets_before:]
    assert len(new_tickets) == 1 and "not captured" in new_tickets[0]["subject"]

    # an item out of stock (the inventory MCP server has no kettles): a ticket, no shipment
    paid = sy.charge("ann.lee@example.com", 4900)
    order3, body, headers = sy.order_paid(
        "ann.lee@example.com", [("NW-LAMP-BRS", 1), ("NW-KTL-STL", 1)], paid
    )
    [run3] = await webhook(api, "shop", body, headers)
    assert await settle(sy, api, people, run3) == ["helpdesk__create_ticket"]
    result = run_view(sy.c.db, run3)["result"]
    assert result["problem"] == "NW-KTL-STL is out of stock: 0 available, 1 ordered"
    assert shipments_for(sy, order3["order_number"]) == []

    # a standing rule for chat posts bounds what it lets run unseen: a channel it lists may be
    # chosen, but free text the workflow composed is never run without a person (provenance)
    schema = {
        "type": "object",
        "properties": {
            "channel": {"enum": ["#orders"]},
            "text": {"type": "string", "maxLength": 500},
            "thread_ts": {"type": "string", "maxLength": 40},
        },
        "additionalProperties": False,
    }
    r = await api.post(
        "/api/v1/rules",
        json={"tool": "chat__post_message", "max_risk": "medium", "arguments_schema": schema},
        headers=people["root"],
    )
    assert r.status_code == 201, r.text
    paid = sy.charge("maria.gonzalez@example.com", 15900)
    _, body, headers = sy.order_paid("maria.gonzalez@example.com", [("NW-LAMP-BRS", 1)], paid)
    [run4] = await webhook(api, "shop", body, headers)
    decided = await settle(sy, api, people, run4)
    assert decided == ["warehouse__create_shipment", "crm__add_note", "chat__post_message"]
    post = next(a for a in run_view(sy.c.db, run4)["actions"] if a["operation"] == "post_message")
    assert post["status"] == "succeeded" and not post["decided_by"].startswith("rule:")
    assert any("text" in r and "does not list it" in r for r in post["reasons"]), post["reasons"]


async def test_dispute_opens_a_ticket_and_pings_billing(world: Any) -> None:
    sy, api, people = world
    await draft_and_activate(api, people, DISPUTE)
    body, headers = sy.dispute("ch_3Nw46890RugAnn", "dp_1Q77")
    [run_id] = await webhook(api, "payments", body, headers)
    assert await settle(sy, api, people, run_id) == ["helpdesk__create_ticket", "chat__post_message"]
    ticket = max(sy.state("helpdesk").tickets.values(), key=lambda t: t["id"])
    assert "Dispute dp_1Q77" in ticket["subject"] and "129.00 USD" in ticket["subject"]
    assert any(
        "Dispute dp_1Q77" in t and f"ticket #{ticket['id']}" in t for t in channel_texts(sy, "billing")
    )


async def test_a_yen_dispute_opens_a_ticket_in_yen(world: Any) -> None:
    """Stripe's amount=5000 in JPY is ¥5,000: the ticket says 5000 JPY, not 50.00."""
    sy, api, people = world
    await draft_and_activate(api, people, DISPUTE)
    body, headers = sy.dispute("ch_3Nw46890RugAnn", "dp_1Q78", amount=5000, currency="jpy")
    [run_id] = await webhook(api, "payments", body, headers)
    assert await settle(sy, api, people, run_id) == ["helpdesk__create_ticket", "chat__post_message"]
    ticket = max(sy.state("helpdesk").tickets.values(), key=lambda t: t["id"])
    assert "Dispute dp_1Q78" in ticket["subject"] and "for 5000 JPY" in ticket["subject"], ticket


async def test_daily_count_runs_once_per_slot(world: Any) -> None:
    sy, api, people = world
    helpdesk = sy.state("helpdesk")
    urgent = sorted(helpdesk.tickets)[:2]
    for tid in urgent:
        helpdesk.tickets[tid]["priority"] = "urgent"
    draft = await draft_and_activate(api, people, DAILY_COUNT)
    assert draft["spec"]["trigger"] == {"schedule": {"at": "08:00", "timezone": "UTC"}}
    with sy.c.db.session() as s:
        slot = s.get(Workflow, draft["id"]).schedule_next_at
    assert slot is not None and (slot.hour, slot.minute) == (8, 0)
    assert schedules.tick(sy.c.db, slot - timedelta(seconds=1)) == []  # not yet
    [run_id] = schedules.tick(sy.c.db, slot + timedelta(seconds=30))
    assert schedules.tick(sy.c.db, slot + timedelta(seconds=40)) == []  # the slot is taken
    open_urgent = sum(
        1
        for t in helpdesk.tickets.values()
        if t["priority"] == "urgent" and t["status"] not in ("solved", "closed")
    )
    assert open_urgent == 2
    assert await settle(sy, api, people, run_id) == ["chat__post_message"]
    assert any(t.startswith("2 urgent open tickets") for t in channel_texts(sy, "support"))
    with sy.c.db.session() as s:
        assert s.get(Workflow, draft["id"]).schedule_next_at == slot + timedelta(days=1)


async def test_tracker_and_chat_on_a_bug_ticket(world: Any) -> None:
    sy, api, people = world
    draft = await draft_and_activate(api, people, BUGS)
    assert draft["spec"]["conditions"] == [{"field": "event.subject", "op": "contains", "value": "bug"}]
    from app.services.webhook_secrets import set_webhook_secret

    set_webhook_secret(sy.c.db, sy.c.box, "helpdesk", "zd-secret", "test")

    async def ticket(tid: int, subject: str) -> str:
        body = json.dumps(
            {
                "type": "zen:event-type:ticket.created",
                "detail": {
                    "id": tid,
                    "subject": subject,
                    "description": "Steps: open the app",
                    "requester_email": "ann.lee@example.com",
                },
            }
        ).encode()
        stamp = __import__("datetime").datetime.now(__import__("datetime").UTC).isoformat()
        [run] = await webhook(api, "helpdesk", body, zendesk.signed_headers(body, "zd-secret", stamp))
        return run

    quiet = await ticket(9101, "Where is my order?")
    await sy.c.orchestrator.drain("w")
    assert run_view(sy.c.db, quiet)["result"] == {"skipped": "conditions not met"}
    run_id = await ticket(9102, "Checkout bug: the pay button does nothing")
    assert await settle(sy, api, people, run_id) == ["tracker__create_issue", "chat__post_message"]
    issue = run_view(sy.c.db, run_id)["actions"][0]["result"]["data"]
    assert any(
        str(issue["identifier"]) in t and "Checkout bug" in t for t in channel_texts(sy, "engineering")
    )
