"""A Stripe-format refund approved twice (a double click, a retry after a crash)
creates one refund: the decision is taken under a row lock, and the approved
action's id is the Idempotency-Key the payments system deduplicates on."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from app.api.app import create_app
from app.services import approvals, intake
from app.services.auth import Principal, create_token
from app.services.errors import Conflict
from app.services.views import run_view
from app.store.tables import AuditEntry, Run, utcnow
from connectors.payments.client import ACTION_KEY
from tests.support.app import full_container

PAT = Principal("pat", "approver")
LEE = Principal("lee", "approver")
REFUND_CENTS = 2500  # under the two-approver threshold: one approval completes the decision


@pytest.fixture
async def rig(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The finance pipeline (local model) over the simulators, a refund waiting for approval."""
    c, sims = full_container(db_url, tmp_path)
    payments = c.pool.connector("payments")
    customer = await payments.find_customer(email="ann.lee@example.com")  # type: ignore[attr-defined]
    charges = await payments.list_charges(customer_id=customer["id"])  # type: ignore[attr-defined]
    charge = max(charges, key=lambda ch: ch["amount"] - ch["amount_refunded"])
    assert charge["amount"] - charge["amount_refunded"] > REFUND_CENTS
    run_id = intake.submit(
        c.db,
        kind="record",
        run_kind="record",
        payload={
            "kind": "refund",
            "amount": f"{REFUND_CENTS / 100:.2f}",
            "currency": "USD",
            "counterparty": "Ann Lee",
            "description": "refund requested by phone",
            "customer_email": "ann.lee@example.com",
            "charge_id": charge["id"],
        },
        source="api",
        actor="clerk-kim",
    )[0]
    await c.orchestrator.drain("w1")
    view = run_view(c.db, run_id)
    assert view["status"] == "waiting_approval", view["error"]
    [refund] = [a for a in view["actions"] if a["operation"] == "create_refund"]
    assert refund["status"] == "pending" and refund["required_approvals"] == 1
    assert refund["arguments"]["charge_id"] == charge["id"]
    assert refund["arguments"]["amount"] == REFUND_CENTS
    yield c, sims, run_id, refund, charge
    await c.pool.aclose()


async def refunds_of(c: Any, charge_id: str) -> list[dict[str, Any]]:
    return await c.pool.connector("payments").list_refunds(charge_id=charge_id)  # type: ignore[no-any-return]


def approval_events(c: Any, action_id: str) -> list[str]:
    with c.db.session() as s:
        return list(
            s.scalars(
                select(AuditEntry.event)
                .where(AuditEntry.subject_id == action_id, AuditEntry.event.like("action.approv%"))
                .order_by(AuditEntry.id)
            )
        )


async def assert_one_refund_after_drain(
    c: Any, run_id: str, refund: dict[str, Any], charge: dict[str, Any]
) -> None:
    await c.orchestrator.drain("w-final")
    view = run_view(c.db, run_id)
    assert view["status"] == "succeeded", view["error"]
    [done] = [a for a in view["actions"] if a["id"] == refund["id"]]
    assert done["status"] == "succeeded" and done["attempts"] == 1
    [made] = await refunds_of(c, charge["id"])
    assert made["amount"] == REFUND_CENTS and made["metadata"] == {ACTION_KEY: refund["id"]}


@pytest.mark.parametrize("second", [PAT, LEE], ids=["same-person-double-click", "two-people-at-once"])
async def test_two_concurrent_approvals_make_one_decision(rig: Any, second: Principal) -> None:
    c, _, run_id, refund, charge = rig
    before = await refunds_of(c, charge["id"])
    assert before == []
    barrier = threading.Barrier(2)

    def click(who: Principal) -> dict[str, Any]:
        barrier.wait(timeout=5)  # both requests hit the store together
        return approvals.approve(c.db, refund["id"], who, c.pool.catalogue)

    results = await asyncio.gather(
        asyncio.to_thread(click, PAT), asyncio.to_thread(click, second), return_exceptions=True
    )
    ok = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(ok) == 1 and len(refused) == 1, results
    assert isinstance(refused[0], Conflict) and refused[0].status == 409  # type: ignore[attr-defined]
    assert "no longer pending" in str(refused[0])
    assert ok[0]["status"] == "approved" and len(ok[0]["approvals"]) == 1
    assert approval_events(c, refund["id"]) == ["action.approved"]
    assert approvals.get_action(c.db, refund["id"])["decided_by"] == ok[0]["decided_by"]
    await assert_one_refund_after_drain(c, run_id, refund, charge)
    with pytest.raises(Conflict):  # a late third click on a finished action changes nothing
        approvals.approve(c.db, refund["id"], LEE, c.pool.catalogue)
    assert len(await refunds_of(c, charge["id"])) == 1


async def test_retry_after_a_crash_mid_refund_is_deduplicated(rig: Any) -> None:
    c, sims, run_id, refund, charge = rig
    approvals.approve(c.db, refund["id"], PAT, c.pool.catalogue)

    # worker w2 claims the run, commits "executing", sends the refund with the action id as key, then dies
    store = c.store
    assert store.claim("w2", 30) == run_id
    executing = store.start_execution(refund["id"], "w2")
    assert executing.status == "executing" and executing.attempts == 1
    payments = c.pool.connector("payments")
    first = await payments.create_refund(  # type: ignore[attr-defined]
        **refund["arguments"], idempotency_key=refund["id"]
    )
    assert first["deduplicated"] is False
    with c.db.session() as s:  # its lease lapses; nothing recorded the refund's answer
        s.execute(
            update(Run).where(Run.id == run_id).values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    assert approvals.get_action(c.db, refund["id"])["status"] == "executing"

    await c.orchestrator.drain("w3")
    view = run_view(c.db, run_id)
    assert view["status"] == "succeeded", view["error"]
    [done] = [a for a in view["actions"] if a["id"] == refund["id"]]
    assert done["status"] == "succeeded" and done["attempts"] == 2
    assert done["result"]["data"]["deduplicated"] is True  # Stripe replayed the first answer
    assert done["result"]["data"]["refund"]["id"] == first["refund"]["id"]
    [step] = [
        s for s in view["steps"] if s["kind"] == "tool_call" and s["data"].get("action_id") == refund["id"]
    ]
    assert step["data"]["attempt"] == 2 and '"deduplicated": true' in step["data"]["result"]

    [made] = await refunds_of(c, charge["id"])  # exactly one refund, of that amount
    assert made["id"] == first["refund"]["id"] and made["amount"] == REFUND_CENTS
    state = sims["payments"].state.payments
    assert state.charges[charge["id"]]["amount_refunded"] == charge["amount_refunded"] + REFUND_CENTS
    assert refund["id"] in state.idempotency


async def test_http_approve_twice_is_200_then_409(rig: Any) -> None:
    c, _, run_id, refund, charge = rig
    token = create_token(c.db, "pat", "approver")[1]
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/approvals/{refund['id']}/approve"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(c)), base_url="http://sb"
    ) as api:
        first = await api.post(url, headers=headers)
        assert first.status_code == 200, first.text
        assert first.json()["status"] == "approved"
        again = await api.post(url, headers=headers)
        assert again.status_code == 409, again.text
        assert "no longer pending" in again.json()["error"]
        await assert_one_refund_after_drain(c, run_id, refund, charge)
        late = await api.post(url, headers=headers)
        assert late.status_code == 409 and "succeeded" in late.json()["error"]
    assert approval_events(c, refund["id"]) == ["action.approved"]
    assert len(await refunds_of(c, charge["id"])) == 1
