"""A help desk that fails, seen through the API and the web UI.

An approved reply runs as soon as it is approved, while the other action still
waits. When the help desk is down (503) the run goes back to the queue with
backoff; when it refuses the write (422) the run needs attention: listed under
the queue's Failed tab with the error, counted on the dashboard, not counted as
approved, and an approver retries it (same idempotency key: it lands once) or
dismisses it, from the API or the UI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from app.api.app import create_app
from app.llm.scripted import ScriptedModel
from app.services.auth import create_token
from app.store.tables import Connection, Run, utcnow
from connectors.helpdesk.simulator import create_app as helpdesk_app
from tests.support.app import container, triage_script

TICKET = {"subject": "Charged twice", "body": "Billed twice in March.", "requester_email": "ann@example.com"}


class Rig:
    def __init__(self, c: Any, client: httpx.AsyncClient, sim: Any):
        self.c, self.client, self.sim = c, client, sim
        self.tokens = {r: create_token(c.db, f"{r}-user", r)[1] for r in ("viewer", "operator", "approver")}

    async def call(self, method: str, path: str, role: str = "approver", **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        return await self.client.request(method, path, headers=headers, **kw)

    async def ui(self, method: str, path: str, role: str = "approver", **kw: Any) -> httpx.Response:
        headers = {"Cookie": f"sb_token={self.tokens[role]}", "Origin": "http://sb", **kw.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **kw)

    async def run(self, run_id: str) -> dict[str, Any]:
        return (await self.call("GET", f"/api/v1/runs/{run_id}")).json()

    def faults(self, **settings: Any) -> None:
        self.sim.state.faults.reset()
        if settings:
            self.sim.state.faults.update(settings)

    def writes_of(self, action_id: str) -> int:
        audits = self.sim.state.helpdesk.ticket_audits(5)
        return sum(
            1
            for a in audits
            if a.get("metadata", {}).get("custom", {}).get("switchboard_action_id") == action_id
        )

    def past_backoff(self, run_id: str) -> None:
        with self.c.db.session() as s:
            s.execute(update(Run).where(Run.id == run_id).values(not_before=utcnow() - timedelta(seconds=1)))


@pytest.fixture
async def rig(db_url: str, tmp_path: Path) -> AsyncIterator[Rig]:
    sim = helpdesk_app()
    c = container(db_url, tmp_path, ScriptedModel(triage_script(5)), sim=sim)
    with c.db.session() as s:  # no in-call retries: each pass makes one attempt
        s.execute(update(Connection).values(config={"retry_attempts": 1}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(c)), base_url="http://sb"
    ) as client:
        yield Rig(c, client, sim)
    await c.pool.aclose()


async def test_a_failing_help_desk_never_looks_like_success(rig: Rig) -> None:
    r = await rig.call("POST", "/api/v1/tickets", role="operator", json={**TICKET, "external_id": 5})
    run_id = r.json()["run_id"]
    await rig.c.orchestrator.drain("w")
    run = await rig.run(run_id)
    reply = next(a for a in run["actions"] if a["operation"] == "add_comment")
    update_ = next(a for a in run["actions"] if a["operation"] == "update_ticket")

    # approving the reply alone runs it now; the update still waits
    assert (await rig.call("POST", f"/api/v1/approvals/{reply['id']}/approve")).status_code == 200
    assert (await rig.run(run_id))["status"] == "queued"
    await rig.c.orchestrator.drain("w")
    run = await rig.run(run_id)
    assert run["status"] == "waiting_approval" and rig.writes_of(reply["id"]) == 1
    assert {a["operation"]: a["status"] for a in run["actions"]} == {
        "add_comment": "succeeded",
        "update_ticket": "pending",
    }

    # the help desk is down: the run comes back later, it does not fail
    rig.faults(error_rate=1.0, status=503, methods=["PUT"])
    await rig.call("POST", f"/api/v1/approvals/{update_['id']}/approve")
    await rig.c.orchestrator.drain("w")
    run = await rig.run(run_id)
    assert run["status"] == "queued" and "503" in (run["error"] or "")
    assert rig.writes_of(update_["id"]) == 0

    # it refuses the write: the run needs a person
    rig.faults(error_rate=1.0, status=422, methods=["PUT"])
    rig.past_backoff(run_id)
    await rig.c.orchestrator.drain("w")
    run = await rig.run(run_id)
    assert run["status"] == "needs_attention"
    failed = next(a for a in run["actions"] if a["id"] == update_["id"])
    assert failed["status"] == "failed" and failed["attempts"] == 2 and "422" in failed["error"]
    listed = (await rig.call("GET", "/api/v1/approvals?status=failed", role="viewer")).json()
    assert [a["id"] for a in listed] == [update_["id"]]

    # the UI: a Failed tab with the error and the buttons; the dashboard counts it
    html = (await rig.ui("GET", "/ui/queue?status=failed")).text
    assert 'Failed <span class="n">1</span>' in html and 'Approved <span class="n">1</span>' in html
    assert f"/ui/queue/{update_['id']}/retry" in html and f"/ui/queue/{update_['id']}/dismiss" in html
    assert "422" in html
    html = (await rig.ui("GET", f"/ui/runs/{run_id}", role="viewer")).text
    assert "needs attention" in html
    html = (await rig.ui("GET", "/ui/dashboard", role="viewer")).text
    assert "runs need attention" in html and "1 failed write" in html

    # who may do what
    assert (
        await rig.call("POST", f"/api/v1/approvals/{update_['id']}/retry", role="viewer")
    ).status_code == 403
    r = await rig.call("POST", f"/api/v1/approvals/{reply['id']}/retry")
    assert r.status_code == 409 and "has not failed" in r.json()["error"]
    r = await rig.call("POST", f"/api/v1/approvals/{update_['id']}/dismiss", json={})
    assert r.status_code == 422 and "reason" in r.json()["error"]

    # the help desk is fixed; a retry from the UI lands the write once, with the same key
    rig.faults()
    r = await rig.ui("POST", f"/ui/queue/{update_['id']}/retry", headers={"HX-Request": "true"})
    assert r.status_code == 200 and "Retrying" in r.text
    await rig.c.orchestrator.drain("w")
    run = await rig.run(run_id)
    assert run["status"] == "succeeded"
    done = next(a for a in run["actions"] if a["id"] == update_["id"])
    assert done["status"] == "succeeded" and done["attempts"] == 3
    assert rig.writes_of(update_["id"]) == 1 and rig.writes_of(reply["id"]) == 1


async def test_dismiss_from_the_api(rig: Rig) -> None:
    r = await rig.call("POST", "/api/v1/tickets", role="operator", json={**TICKET, "external_id": 5})
    run_id = r.json()["run_id"]
    await rig.c.orchestrator.drain("w")
    actions = (await rig.run(run_id))["actions"]
    rig.faults(error_rate=1.0, status=422, methods=["PUT"])
    for a in actions:
        await rig.call("POST", f"/api/v1/approvals/{a['id']}/approve")
    await rig.c.orchestrator.drain("w")
    assert (await rig.run(run_id))["status"] == "needs_attention"
    for a in actions:
        r = await rig.call("POST", f"/api/v1/approvals/{a['id']}/dismiss", json={"reason": "ticket closed"})
        assert r.status_code == 200 and r.json()["status"] == "dismissed"
    await rig.c.orchestrator.drain("w")
    run = await rig.run(run_id)
    assert run["status"] == "succeeded"
    assert {a["status"] for a in run["actions"]} == {"dismissed"}
    assert all(rig.writes_of(a["id"]) == 0 for a in actions)
