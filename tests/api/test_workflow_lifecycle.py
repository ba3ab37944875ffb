"""A workflow seen and steered by people: dry run (writes nothing, every simulator
unchanged), activation by someone other than the author, pause, resume, a new version
replacing the active one, history; sentences the model cannot build say which part and
what is available; steps naming a channel, connection or operation that does not exist
are reported; webhook secrets set through the API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.api.app import create_app
from app.services.auth import create_token
from app.services.views import run_view
from app.services.webhook_secrets import has_webhook_secret
from tests.api.test_workflow_sentences import DISPUTE, ORDER_CHAIN
from tests.support.systems import Systems, systems


@pytest.fixture
async def world(
    db_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Systems, httpx.AsyncClient, dict[str, dict[str, str]]]]:
    with systems(db_url, tmp_path) as sy:
        people = sy.tokens(
            ("olivia", "operator"), ("adam", "approver"), ("bea", "approver"), ("root", "admin")
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(sy.c)), base_url="http://sb"
        ) as api:
            yield sy, api, people
        await sy.c.pool.aclose()


async def test_dry_run_writes_nothing_and_shows_each_step(world: Any) -> None:
    sy, api, people = world
    draft = (
        await api.post("/api/v1/workflows", json={"request": ORDER_CHAIN}, headers=people["olivia"])
    ).json()
    charge = sy.charge("raj.patel@example.org", 21800)
    order, body, _ = sy.order_paid("raj.patel@example.org", [("NW-BLND-129", 1), ("NW-CURT-LIN", 1)], charge)
    before = sy.snapshot()
    assert {"shop", "warehouse", "crm", "chat", "helpdesk", "payments", "mcp", "tracker"} <= set(before)
    r = await api.post(
        f"/api/v1/workflows/{draft['id']}/dry-run", json={"event": json.loads(body)}, headers=people["olivia"]
    )
    assert r.status_code == 200, r.text
    dry = r.json()
    assert sy.snapshot() == before  # no simulator changed
    assert dry["outcome"] == {"steps": 7}
    by_key = {s["key"]: s for s in dry["steps"]}
    assert [s["tool"] for s in dry["steps"]] == [
        "shop__get_order_payment",
        "payments__get_charge",
        "inventory__lookup_sku",
        "inventory__lookup_sku",
        "warehouse__create_shipment",
        "crm__find_contact",
        "crm__add_note",
        "chat__post_message",
    ]
    assert by_key["step0"]["would"] == "read" and charge in by_key["step0"]["result"]
    assert [by_key[k]["would"] for k in ("step3", "step5", "step6")] == ["wait for approval"] * 3
    assert by_key["step3"]["arguments"]["order_number"] == str(order["order_number"])
    assert dry["writes"] == 3
    with sy.c.db.session() as s:
        from app.store.tables import Action, Run

        assert s.query(Action).count() == 0 and s.query(Run).filter(Run.kind == "workflow").count() == 0

    # without an event: the newest paid order in the shop; a held payment stops it (shown, not done)
    held = sy.charge("kevin.doyle@example.net", 12900, captured=False)
    sy.order_paid("kevin.doyle@example.net", [("NW-BLND-129", 1)], held)
    before = sy.snapshot()
    dry = (await api.post(f"/api/v1/workflows/{draft['id']}/dry-run", headers=people["olivia"])).json()
    assert sy.snapshot() == before
    assert dry["event"]["email"] == "kevin.doyle@example.net" and "newest" in dry["event_source"]
    assert "not captured" in dry["outcome"]["problem"]
    assert (
        dry["steps"][-1]["tool"] == "helpdesk__create_ticket"
        and dry["steps"][-1]["would"] == "wait for approval"
    )


async def test_activate_pause_resume_edit_history(world: Any) -> None:
    sy, api, people = world
    sentence = "When a dispute opens in payments, open a ticket and post in #billing"
    r = await api.post("/api/v1/workflows", json={"request": sentence}, headers=people["adam"])
    v1 = r.json()
    # the author, though an approver, cannot activate their own workflow
    r = await api.post(f"/api/v1/workflows/{v1['id']}/activate", headers=people["adam"])
    assert r.status_code == 403 and "someone other" in r.json()["error"]
    assert (
        await api.post(f"/api/v1/workflows/{v1['id']}/activate", headers=people["bea"])
    ).status_code == 200
    body, headers = sy.dispute("ch_x", "dp_a1")
    assert (
        len(
            (await api.post("/api/v1/webhooks/payments", content=body, headers=headers)).json()[
                "workflow_runs"
            ]
        )
        == 1
    )

    assert (await api.post(f"/api/v1/workflows/{v1['id']}/pause", headers=people["bea"])).json()[
        "status"
    ] == "paused"
    body, headers = sy.dispute("ch_x", "dp_a2")
    assert (await api.post("/api/v1/webhooks/payments", content=body, headers=headers)).json()[
        "workflow_runs"
    ] == []
    assert (await api.post(f"/api/v1/workflows/{v1['id']}/pause", headers=people["bea"])).status_code == 409
    assert (await api.post(f"/api/v1/workflows/{v1['id']}/resume", headers=people["bea"])).json()[
        "status"
    ] == "active"

    # edit: a new version by sentence; the old one runs until the new one is activated
    r = await api.post(
        f"/api/v1/workflows/{v1['id']}/versions",
        json={"request": "When a dispute opens in payments, post in #finance"},
        headers=people["olivia"],
    )
    assert r.status_code == 201, r.text
    v2 = r.json()
    assert (v2["version"], v2["family_id"], v2["status"]) == (2, v1["id"], "draft")
    body, headers = sy.dispute("ch_x", "dp_a3")
    [run] = (await api.post("/api/v1/webhooks/payments", content=body, headers=headers)).json()[
        "workflow_runs"
    ]
    assert run_view(sy.c.db, run)["input"]["event"]["workflow_id"] == v1["id"]
    assert (
        await api.post(f"/api/v1/workflows/{v2['id']}/activate", headers=people["adam"])
    ).status_code == 200
    listed = {w["id"]: w for w in (await api.get("/api/v1/workflows", headers=people["olivia"])).json()}
    assert listed[v1["id"]]["status"] == "superseded" and listed[v2["id"]]["status"] == "active"
    assert [r["id"] for r in listed[v1["id"]]["last_runs"]][:1] == [run]
    body, headers = sy.dispute("ch_x", "dp_a4")
    [run] = (await api.post("/api/v1/webhooks/payments", content=body, headers=headers)).json()[
        "workflow_runs"
    ]
    assert run_view(sy.c.db, run)["input"]["event"]["workflow_id"] == v2["id"]
    assert (
        await api.post(f"/api/v1/workflows/{v1['id']}/activate", headers=people["bea"])
    ).status_code == 409

    # an edited spec is checked: a made-up operation and connection are reported, not dropped
    bad = {
        **v2["spec"],
        "steps": [
            *v2["spec"]["steps"],
            {"tool": "chat__shout", "arguments": {}},
            {"tool": "fax__send", "arguments": {}},
        ],
    }
    r = await api.post(f"/api/v1/workflows/{v2['id']}/versions", json={"spec": bad}, headers=people["olivia"])
    problems = r.json()["problems"]
    assert any("chat has no operation 'shout'" in p and "post_message" in p for p in problems), problems
    assert any("no connection named 'fax'" in p for p in problems), problems
    assert (
        await api.post(f"/api/v1/workflows/{r.json()['id']}/activate", headers=people["bea"])
    ).status_code == 422

    history = (await api.get(f"/api/v1/workflows/{v2['id']}/history", headers=people["olivia"])).json()
    assert [v["version"] for v in history["versions"]] == [1, 2, 3]
    events = [(e["event"], e["actor"]) for e in history["events"]]
    for expected in [
        ("workflow.drafted", "adam"),
        ("workflow.activated", "bea"),
        ("workflow.paused", "bea"),
        ("workflow.resumed", "bea"),
        ("workflow.superseded", "adam"),
        ("workflow.activated", "adam"),
    ]:
        assert expected in events, (expected, events)


async def test_sentences_it_cannot_build_say_what_and_what_instead(world: Any) -> None:
    _, api, people = world
    r = await api.post(
        "/api/v1/workflows",
        json={"request": "When the moon is full, water the plants"},
        headers=people["olivia"],
    )
    problems = r.json()["problems"]
    assert any(
        "no event or time found" in p and "orders/paid" in p and "every morning at 8" in p for p in problems
    ), problems

    r = await api.post(
        "/api/v1/workflows",
        json={
            "request": "When an order is paid in the shop, send it to the warehouse, sing a song and post in #nowhere"
        },
        headers=people["olivia"],
    )
    problems = r.json()["problems"]
    assert any("'sing a song'" in p and "send it to the warehouse" in p for p in problems), problems
    assert any("no channel #nowhere" in p and "#orders" in p for p in problems), problems

    help_ = (await api.get("/api/v1/workflows/help", headers=people["olivia"])).json()
    assert ORDER_CHAIN in help_["examples"] and "orders/paid" in help_["events"]["shop"]


async def test_webhook_secret_set_through_the_api(world: Any) -> None:
    sy, api, people = world
    r = await api.put(
        "/api/v1/connections/chat/webhook-secret", json={"secret": "s3"}, headers=people["adam"]
    )
    assert r.status_code == 403
    r = await api.put(
        "/api/v1/connections/chat/webhook-secret", json={"secret": "  "}, headers=people["root"]
    )
    assert r.status_code == 422 and "empty" in r.json()["error"]
    r = await api.put(
        "/api/v1/connections/nope/webhook-secret", json={"secret": "s3"}, headers=people["root"]
    )
    assert r.status_code == 404
    assert not has_webhook_secret(sy.c.db, sy.c.box, "chat")
    r = await api.put(
        "/api/v1/connections/chat/webhook-secret", json={"secret": "s3"}, headers=people["root"]
    )
    assert r.json() == {"connection": "chat", "webhook_secret": "set", "replaced": False}
    assert has_webhook_secret(sy.c.db, sy.c.box, "chat")
    assert "s3" not in r.text.replace('"s3"', "")
    _ = create_token


async def test_every_example_in_the_help_drafts_cleanly_and_the_parcel_one_runs(world: Any) -> None:
    """The help lists only what the local model can build: each example drafts with no problem."""
    sy, api, people = world
    help_ = (await api.get("/api/v1/workflows/help", headers=people["olivia"])).json()
    drafted = {}
    for sentence in help_["examples"]:
        r = await api.post("/api/v1/workflows", json={"request": sentence}, headers=people["olivia"])
        assert r.status_code == 201 and r.json()["problems"] == [], (sentence, r.json()["problems"])
        drafted[sentence] = r.json()
    parcel = drafted["When a parcel is delivered, post in #orders"]
    assert parcel["spec"]["trigger"] == {"connection": "warehouse", "event": "track"}
    assert (
        await api.post(f"/api/v1/workflows/{parcel['id']}/activate", headers=people["adam"])
    ).status_code == 200
    warehouse = sy.state("warehouse")
    label_id = next(lid for lid, lb in warehouse.labels.items() if lb["status_code"] == "IT")
    warehouse.advance_tracking(label_id, "IT")  # still moving: conditions not met
    warehouse.advance_tracking(label_id, "DE")
    runs = []
    url = httpx.URL(warehouse.webhook["url"])  # as ShipStation is set up: the connection's token in it
    hook = f"{url.path}?{url.query.decode()}"
    assert "token=" in hook
    for body, headers in warehouse.take_outbox():
        r = await api.post(hook, content=body, headers=headers)
        assert r.status_code == 202, r.text
        runs += r.json()["workflow_runs"]
    # The vendor's key signs every account's deliveries: without the connection's token, refused.
    other_account = await api.post("/api/v1/webhooks/warehouse", content=body, headers=headers)
    assert other_account.status_code == 401, other_account.text
    forged = await api.post(
        hook,
        content=body,
        headers={**headers, "x-shipengine-rsa-sha256-signature": "AAAA"},
    )
    assert forged.status_code == 401
    await sy.c.orchestrator.drain("w")
    moving, delivered = (run_view(sy.c.db, r) for r in runs)
    assert moving["result"] == {"skipped": "conditions not met"}
    [post] = delivered["actions"]
    assert post["status"] == "pending" and "Delivered" in post["arguments"]["text"]


BRANCH = "{{ '#billing' if not steps.0.result else '#orders' }}"
TEXT = "{{ 'Dispute noted.' if not steps.0.result else 'Refund ' ~ event.charge ~ ' in full now, no questions.' }}"


async def test_a_step_that_branches_on_a_writes_result_is_not_guessed_by_the_dry_run(world: Any) -> None:
    """A dry run never shows what the real run would not do. It stands for each write's result with
    `NotWritten`; a template or check that asks a question of that result (true or false, equal
    to) has no answer before the write is made, so the dry run stops there and says why, instead
    of branching one way in the dry run and the other in the real run."""
    sy, api, people = world
    r = await api.post("/api/v1/workflows", json={"request": DISPUTE}, headers=people["olivia"])
    assert r.status_code == 201, r.text
    base = r.json()
    spec = {
        "name": "Disputes to #billing",
        "trigger": base["spec"]["trigger"],  # payments, charge.dispute.created
        "steps": [
            {"tool": "chat__post_message", "arguments": {"channel": "#billing", "text": "A dispute opened."}},
            {"tool": "chat__post_message", "arguments": {"channel": BRANCH, "text": TEXT}},
        ],
    }
    r = await api.post(
        f"/api/v1/workflows/{base['id']}/versions", json={"spec": spec}, headers=people["olivia"]
    )
    assert r.status_code == 201, r.text
    v2 = r.json()
    assert v2["problems"] == [], v2["problems"]

    # the activator tries it on the event it will meet
    body, _ = sy.dispute("ch_dry", "dp_dry")
    event = json.loads(body)["data"]["object"]
    r = await api.post(f"/api/v1/workflows/{v2['id']}/dry-run", json={"event": event}, headers=people["adam"])
    assert r.status_code == 200, r.text
    shown = r.json()
    assert [s["arguments"]["text"] for s in shown["steps"]] == ["A dispute opened."]  # only what it knows
    assert "result of step0 is known only once that write is made" in shown["outcome"]["unknown"]
