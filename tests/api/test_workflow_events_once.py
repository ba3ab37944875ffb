"""One event starts one run of a workflow, and only an active workflow runs: through the API.

- a shop delivery replayed under a new (unsigned) event id is the delivery it copies;
- a workflow paused or replaced stops its runs at their next pass;
- a vendor's retry after a new version was activated starts nothing new;
- two versions activated at the same moment leave one active (PostgreSQL, two sessions)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.api.app import create_app
from app.services import workflows
from app.services.views import run_view
from tests.api.test_workflow_sentences import ORDER_CHAIN, draft_and_activate, settle, webhook
from tests.support.systems import Systems, systems

DISPUTE = "When a dispute opens in payments, open a ticket and post in #billing"


@pytest.fixture
async def world(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[Systems, httpx.AsyncClient, Any]]:
    with systems(db_url, tmp_path) as sy:
        people = sy.tokens(
            ("olivia", "operator"), ("adam", "approver"), ("bea", "approver"), ("root", "admin")
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(sy.c)), base_url="http://sb"
        ) as api:
            yield sy, api, people
        await sy.c.pool.aclose()


PAID_ORDERS = "When an order is paid in the shop, send it to the warehouse and post in #orders"


async def test_a_delivery_resent_under_another_topic_starts_nothing(world: Any) -> None:
    """Shopify signs the body, not X-Shopify-Topic: an unpaid order's orders/create body resent as
    orders/paid is accepted (so the shop does not retry it) and starts no paid-order run."""
    sy, api, people = world
    await draft_and_activate(api, people, PAID_ORDERS)
    charge = sy.charge("raj.patel@example.org", 12900)
    sy.shop.place_order(
        "raj.patel@example.org",
        [{"sku": "NW-BLND-129", "quantity": 1}],
        payment_reference=charge,
        financial_status="authorized",  # not paid: the shop sends orders/create only
    )
    [(topic, body, headers)] = sy.shop.take_outbox()
    assert topic == "orders/create"
    assert await webhook(api, "shop", body, headers) == []  # no workflow listens to orders/create
    assert await webhook(api, "shop", body, {**headers, "X-Shopify-Topic": "orders/paid"}) == []
    # a genuinely paid order still starts the chain
    paid = sy.charge("ann.lee@example.com", 12900)
    sy.shop.place_order(
        "ann.lee@example.com", [{"sku": "NW-BLND-129", "quantity": 1}], payment_reference=paid
    )
    deliveries = {t: (b, h) for t, b, h in sy.shop.take_outbox()}
    assert len(await webhook(api, "shop", *deliveries["orders/paid"])) == 1


async def test_a_replayed_shop_delivery_under_a_new_event_id_starts_nothing(world: Any) -> None:
    """Shopify signs only the body; X-Shopify-Event-Id is not signed. A replay of one signed
    orders/paid delivery under another event id is that delivery: no second shipment."""
    sy, api, people = world
    await draft_and_activate(api, people, ORDER_CHAIN)
    charge = sy.charge("raj.patel@example.org", 12900)
    _, body, headers = sy.order_paid("raj.patel@example.org", [("NW-BLND-129", 1)], charge)
    [first] = await webhook(api, "shop", body, headers)
    replay = {**headers, "X-Shopify-Event-Id": "replayed-1", "X-Shopify-Webhook-Id": "replayed-1"}
    again = await webhook(api, "shop", body, replay)  # same signed body, new unsigned id
    assert again == [first], f"the same signed delivery started another run: {again} besides {first}"


async def test_a_paused_workflows_queued_run_runs_nothing(world: Any) -> None:
    """A run queued while the workflow was active stops at its pass once the workflow is paused
    ('a paused one runs nothing until resumed'), saying why."""
    sy, api, people = world
    draft = await draft_and_activate(api, people, DISPUTE)
    body, headers = sy.dispute("ch_x", "dp_p1")
    [run_id] = await webhook(api, "payments", body, headers)
    r = await api.post(f"/api/v1/workflows/{draft['id']}/pause", headers=people["adam"])
    assert r.json()["status"] == "paused"
    await sy.c.orchestrator.drain("w")
    proposed = [a["operation"] for a in run_view(sy.c.db, run_id)["actions"]]
    assert proposed == [], f"the paused workflow's run went on and proposed {proposed}"
    view = run_view(sy.c.db, run_id)
    assert view["status"] == "failed" and "is paused, not active" in view["error"]


async def test_a_redelivery_after_a_new_version_starts_nothing(world: Any) -> None:
    """'Each event starts the workflows it triggers once: a redelivery starts nothing new', in
    any version: a vendor's retry after v2 is activated is the event v1 ran."""
    sy, api, people = world
    v1 = await draft_and_activate(api, people, DISPUTE)
    body, headers = sy.dispute("ch_x", "dp_v1")
    [first] = await webhook(api, "payments", body, headers)
    r = await api.post(
        f"/api/v1/workflows/{v1['id']}/versions", json={"request": DISPUTE}, headers=people["olivia"]
    )
    v2 = r.json()
    assert (
        await api.post(f"/api/v1/workflows/{v2['id']}/activate", headers=people["adam"])
    ).status_code == 200
    again = await webhook(api, "payments", body, headers)  # Stripe's retry of the same event
    assert again in ([], [first]), f"the redelivered event started {again} besides {first}"


def test_two_versions_activated_at_once_leave_one_active(db_url: str, tmp_path: Path) -> None:
    """Two drafts of one workflow activated at the same time (two approvers, two sessions): the
    family is locked (on SQLite the single writer takes them in turn), so the second sees the first active and supersedes it. One is active, and
    an event starts one run."""
    from app.services.auth import Principal

    with systems(db_url, tmp_path) as sy:
        catalogue = asyncio.run(sy.c.pool.load())
        olivia = Principal(name="olivia", role="operator")
        spec_result: dict[str, Any] = {"spec": None, "problems": []}
        base = workflows.save_draft(
            sy.c.db, DISPUTE, olivia, {**spec_result, "spec": _dispute_spec(sy, catalogue)}
        )
        v2 = workflows.save_draft(
            sy.c.db, DISPUTE, olivia, {**spec_result, "spec": base["spec"]}, edits=base["id"]
        )
        barrier = threading.Barrier(2, timeout=3)  # the second waits on the family's lock
        real = workflows.check_spec

        def slow_check(*a: Any, **k: Any) -> list[str]:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()  # without the family's lock both would be here at once
            return real(*a, **k)

        workflows.check_spec = slow_check  # type: ignore[assignment]
        errors: list[BaseException] = []

        def act(wid: str, name: str) -> None:
            try:
                workflows.activate(sy.c.db, wid, Principal(name=name, role="approver"), catalogue)
            except BaseException as exc:
                errors.append(exc)

        try:
            threads = [
                threading.Thread(target=act, args=(base["id"], "adam")),
                threading.Thread(target=act, args=(v2["id"], "bea")),
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(20)
        finally:
            workflows.check_spec = real  # type: ignore[assignment]
        statuses = {w["version"]: w["status"] for w in workflows.list_workflows(sy.c.db)}
        body, headers = sy.dispute("ch_x", "dp_race")
        from app.services import webhooks

        started = webhooks.receive(sy.c.db, sy.c.box, "payments", headers, body)["workflow_runs"]
        assert list(statuses.values()).count("active") <= 1 and len(started) <= 1, (
            f"versions {statuses}; one event started {len(started)} runs; errors {errors}"
        )


def _dispute_spec(sy: Systems, catalogue: Any) -> dict[str, Any]:
    from app.llm.local.workflows import draft

    kinds = workflows.connection_kinds(sy.c.db)
    described = workflows.describe_connections(catalogue, kinds, workflows.argument_defaults(sy.c.db))
    return draft({"request": DISPUTE, "connections": described})


async def waiting_for_its_ticket(
    sy: Systems, api: httpx.AsyncClient, people: Any, dispute: str
) -> tuple[Any, str, Any]:
    """An active dispute workflow, and its run for `dispute` waiting for its create_ticket:
    (the workflow, the run's id, the pending action)."""
    draft = await draft_and_activate(api, people, DISPUTE)
    body, headers = sy.dispute("ch_x", dispute)
    [run_id] = await webhook(api, "payments", body, headers)
    await sy.c.orchestrator.drain("w")
    [pending] = [a for a in run_view(sy.c.db, run_id)["actions"] if a["status"] == "pending"]
    return draft, run_id, pending


async def test_a_write_approved_after_the_pause_is_not_sent(world: Any) -> None:
    """A run waits for its create_ticket; the workflow is paused; then someone approves the
    write. The run's next pass stops, and the approved write is failed for people to see, not
    sent and not left 'approved' forever."""
    sy, api, people = world
    draft, run_id, pending = await waiting_for_its_ticket(sy, api, people, "dp_p2")
    tickets_before = len(sy.state("helpdesk").tickets)
    assert (
        await api.post(f"/api/v1/workflows/{draft['id']}/pause", headers=people["adam"])
    ).status_code == 200
    r = await api.post(f"/api/v1/approvals/{pending['id']}/approve", headers=people["bea"])
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    await sy.c.orchestrator.drain("w")
    view = run_view(sy.c.db, run_id)
    assert view["status"] == "failed" and "is paused, not active" in view["error"]
    [action] = [a for a in view["actions"] if a["id"] == pending["id"]]
    assert action["status"] == "failed" and "it was not sent" in action["error"]
    assert "is paused, not active" in action["error"]
    assert len(sy.state("helpdesk").tickets) == tickets_before


async def test_an_event_a_later_version_ran_before_family_keys_is_still_recognised(world: Any) -> None:
    """Runs of a second version were keyed on its own id before keys were the family's: the
    event such a run ran, redelivered now, starts nothing new."""
    from app.services import intake

    sy, api, people = world
    v1 = await draft_and_activate(api, people, DISPUTE)
    r = await api.post(
        f"/api/v1/workflows/{v1['id']}/versions", json={"request": DISPUTE}, headers=people["olivia"]
    )
    v2 = r.json()
    assert (
        await api.post(f"/api/v1/workflows/{v2['id']}/activate", headers=people["adam"])
    ).status_code == 200
    # as `start` keyed it before: the version's own id
    old_run, _ = intake.submit(
        sy.c.db,
        kind="event",
        run_kind="workflow",
        payload={
            "external_id": f"{v2['id']}:evt_old",
            "workflow_id": v2["id"],
            "spec": v2["spec"],
            "event": {},
        },
        source=f"workflow:{v2['id']}",
        actor=f"workflow:{v2['id']}",
    )
    again = workflows.start(sy.c.db, v2["id"], v2["spec"], {}, "evt_old")
    assert again == old_run


async def test_a_write_failed_with_its_run_is_run_again_not_retried(world: Any) -> None:
    """The write approved after the pause was failed, never sent. Retrying it would answer
    'approved' with nothing left to send it: it is refused, naming what to do. Run again (the
    workflow resumed), the run proposes it afresh and it is sent once."""
    sy, api, people = world
    draft, run_id, pending = await waiting_for_its_ticket(sy, api, people, "dp_again")
    tickets_before = len(sy.state("helpdesk").tickets)
    assert (
        await api.post(f"/api/v1/workflows/{draft['id']}/pause", headers=people["adam"])
    ).status_code == 200
    assert (
        await api.post(f"/api/v1/approvals/{pending['id']}/approve", headers=people["bea"])
    ).status_code == 200
    await sy.c.orchestrator.drain("w")
    assert (
        await api.post(f"/api/v1/workflows/{draft['id']}/resume", headers=people["adam"])
    ).status_code == 200

    r = await api.post(f"/api/v1/approvals/{pending['id']}/retry", headers=people["bea"])
    assert r.status_code == 409 and "run the run again" in r.json()["error"], r.text
    r = await api.post(f"/api/v1/runs/{run_id}/again", headers=people["olivia"])
    assert r.status_code == 202, r.text
    again = r.json()["run_id"]
    assert await settle(sy, api, people, again) == ["helpdesk__create_ticket", "chat__post_message"]
    assert len(sy.state("helpdesk").tickets) == tickets_before + 1


async def test_a_write_in_flight_when_paused_is_failed_as_maybe_sent(world: Any) -> None:
    """An approved create_ticket met a 503 and waits to be sent again with the same key; then the
    workflow is paused. The failed run leaves it failed (not 'executing' for ever), saying an
    attempt may have landed; run again is refused, as a new key could send it twice."""
    from datetime import timedelta

    from sqlalchemy import update

    from app.store.tables import Connection, Run, utcnow

    sy, api, people = world
    with sy.c.db.session() as s:
        row = s.query(Connection).filter_by(name="helpdesk").one()
        row.config = {**(row.config or {}), "retry_attempts": 1}
    draft, run_id, pending = await waiting_for_its_ticket(sy, api, people, "dp_inflight")
    sy.sims["helpdesk"].state.faults.update({"fail_next": 1, "status": 503, "methods": ["POST"]})
    assert (
        await api.post(f"/api/v1/approvals/{pending['id']}/approve", headers=people["bea"])
    ).status_code == 200
    await sy.c.orchestrator.drain("w")
    [mid] = [a for a in run_view(sy.c.db, run_id)["actions"] if a["id"] == pending["id"]]
    assert mid["status"] == "executing"

    assert (
        await api.post(f"/api/v1/workflows/{draft['id']}/pause", headers=people["adam"])
    ).status_code == 200
    with sy.c.db.session() as s:  # past the outage's backoff
        s.execute(update(Run).where(Run.id == run_id).values(not_before=utcnow() - timedelta(seconds=1)))
    await sy.c.orchestrator.drain("w")
    view = run_view(sy.c.db, run_id)
    [action] = [a for a in view["actions"] if a["id"] == pending["id"]]
    assert view["status"] == "failed" and action["status"] == "failed"
    assert "may have reached helpdesk" in action["error"]
    assert (
        await api.post(f"/api/v1/workflows/{draft['id']}/resume", headers=people["adam"])
    ).status_code == 200
    r = await api.post(f"/api/v1/runs/{run_id}/again", headers=people["olivia"])
    assert r.status_code == 409 and "already made helpdesk__create_ticket" in r.json()["error"], r.text
    r = await api.post(
        f"/api/v1/approvals/{pending['id']}/dismiss", json={"reason": "not there"}, headers=people["bea"]
    )
    assert r.status_code == 200 and r.json()["status"] == "dismissed"
