"""A failed run, run again by an operator from the API: `POST /api/v1/runs/{id}/again`.

The triage fails for real (the model answers outside the classification schema, past its repair
turn); once the model behaves, the run again goes through the gate like the first would have,
and the person who posted the ticket still may not approve the refund it proposes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.api.app import create_app
from app.llm.base import ModelResponse, ToolCall, Usage
from app.llm.scripted import ScriptedModel, output, text
from app.services.auth import create_token
from app.store.tables import AuditEntry
from tests.support.app import full_container

EMAIL = "dana.reyes@example.com"
TICKET = {
    "subject": "Blender arrived broken",
    "body": "It came in pieces; I want my money back.",
    "requester_email": EMAIL,
    "external_id": 5,
}
# What a model answers that never fits the classification schema: the run fails on it.
OUTSIDE_SCHEMA = output({"category": "whatever", "mood": "unknown"})


def good_triage(charge_id: str) -> list[Any]:
    return [
        output(
            {
                "category": "refund",
                "priority": "high",
                "sentiment": "negative",
                "language": "en",
                "confidence": 0.93,
                "rationale": "a broken item and money back",
            }
        ),
        output({"body": "Sorry about the blender; we are refunding it.", "sources": [], "grounded": True}),
        ModelResponse(
            tool_calls=[
                ToolCall(
                    id="c1",
                    name="helpdesk__add_comment",
                    arguments={"ticket_id": 5, "body": "Sorry about the blender; we are refunding it."},
                ),
                ToolCall(id="c2", name="payments__create_refund", arguments={"charge_id": charge_id}),
            ],
            stop_reason="tool_use",
            usage=Usage(input_tokens=100, output_tokens=20),
        ),
        text("Replied and proposed the refund."),
    ]


class Rig:
    def __init__(self, c: Any, sims: dict[str, Any], client: httpx.AsyncClient, model: ScriptedModel):
        self.c, self.sims, self.client, self.model = c, sims, client, model
        people = {"viewer": "vic", "operator": "olly", "pat": "pat", "lee": "lee"}
        roles = {"viewer": "viewer", "operator": "operator", "pat": "approver", "lee": "approver"}
        self.tokens = {k: create_token(c.db, name, roles[k])[1] for k, name in people.items()}

    async def call(self, method: str, path: str, who: str, **kw: Any) -> httpx.Response:
        return await self.client.request(
            method, path, headers={"Authorization": f"Bearer {self.tokens[who]}"}, **kw
        )

    async def run(self, run_id: str) -> dict[str, Any]:
        return (await self.call("GET", f"/api/v1/runs/{run_id}", "viewer")).json()

    async def failed_triage(self) -> str:
        """A ticket `pat` posts, whose triage fails: the model answers outside the schema twice."""
        self.model.extend([OUTSIDE_SCHEMA, OUTSIDE_SCHEMA])
        run_id = (await self.call("POST", "/api/v1/tickets", "pat", json=TICKET)).json()["run_id"]
        await self.c.orchestrator.drain("w")
        run = await self.run(run_id)
        assert run["status"] == "failed" and "did not match the schema" in run["error"], run
        return str(run_id)


@pytest.fixture
async def rig(db_url: str, tmp_path: Path) -> AsyncIterator[Rig]:
    model = ScriptedModel()
    c, sims = full_container(db_url, tmp_path, model)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(c)), base_url="http://sb"
    ) as client:
        yield Rig(c, sims, client, model)
    await c.pool.aclose()


async def test_a_failed_triage_runs_again_and_succeeds_once_the_model_behaves(rig: Rig) -> None:
    payments = rig.sims["payments"].state.payments
    dana = payments.add_customer(name="Dana Reyes", email=EMAIL, currency="usd")
    charge = payments.add_charge(customer_id=dana["id"], amount=4900, currency="usd", description="Blender")
    first = await rig.failed_triage()

    rig.model.extend(good_triage(charge["id"]))  # the cause is gone
    r = await rig.call("POST", f"/api/v1/runs/{first}/again", "operator")
    assert r.status_code == 202, r.text
    again = r.json()["run_id"]
    assert r.json() == {"run_id": again, "first_run": first} and again != first
    assert (await rig.run(again))["status"] == "queued"
    await rig.c.orchestrator.drain("w")

    run = await rig.run(again)
    assert run["status"] == "waiting_approval", run
    assert run["input"] == (await rig.run(first))["input"]  # the same input, the poster with it
    assert run["input"]["posted_by"] == "pat"
    ops = {a["operation"]: a for a in run["actions"]}
    refund, reply = ops["create_refund"], ops["add_comment"]

    # pat posted the ticket: the refund is pat's request, for someone else to approve
    r = await rig.call("POST", f"/api/v1/approvals/{refund['id']}/approve", "pat")
    assert r.status_code == 403 and "four eyes" in r.json()["error"], r.text
    assert (await rig.call("POST", f"/api/v1/approvals/{reply['id']}/approve", "pat")).status_code == 200
    r = await rig.call("POST", f"/api/v1/approvals/{refund['id']}/approve", "lee")
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    await rig.c.orchestrator.drain("w")

    run = await rig.run(again)
    assert run["status"] == "succeeded", run
    assert [r["amount"] for r in payments.refunds.values() if r["charge"] == charge["id"]] == [4900]
    assert (await rig.run(first))["status"] == "failed"  # the first run stays as it ended
    with rig.c.db.session() as s:
        [entry] = s.query(AuditEntry).filter_by(event="run.run_again").all()
        assert (entry.actor, entry.subject_id, entry.data["first_run"]) == ("olly", again, first)


async def test_only_a_failed_run_runs_again_and_only_once(rig: Rig) -> None:
    first = await rig.failed_triage()
    rig.model.extend([OUTSIDE_SCHEMA, OUTSIDE_SCHEMA])  # it fails again the second time
    again = (await rig.call("POST", f"/api/v1/runs/{first}/again", "operator")).json()["run_id"]

    r = await rig.call("POST", f"/api/v1/runs/{again}/again", "operator")  # still queued
    assert r.status_code == 409 and f"run {again} is queued, not failed" in r.json()["error"], r.text
    r = await rig.call("POST", f"/api/v1/runs/{first}/again", "operator")  # run again already
    assert r.status_code == 409 and f"as run {again}" in r.json()["error"], r.text

    await rig.c.orchestrator.drain("w")
    assert (await rig.run(again))["status"] == "failed"
    r = await rig.call("POST", f"/api/v1/runs/{again}/again", "operator")  # the latest one may
    assert r.status_code == 202, r.text


async def test_a_succeeded_run_is_a_conflict(rig: Rig) -> None:
    classify, draft, *_ = good_triage("ch_unused")
    rig.model.extend([classify, draft, text("Nothing to write.")])  # a triage that proposes nothing
    run_id = (await rig.call("POST", "/api/v1/tickets", "operator", json=TICKET)).json()["run_id"]
    await rig.c.orchestrator.drain("w")
    assert (await rig.run(run_id))["status"] == "succeeded"
    r = await rig.call("POST", f"/api/v1/runs/{run_id}/again", "operator")
    assert r.status_code == 409, r.text
    assert r.json()["error"] == f"run {run_id} is succeeded, not failed: only a failed run is run again"


async def test_a_viewer_may_not_and_an_unknown_run_is_404(rig: Rig) -> None:
    first = await rig.failed_triage()
    r = await rig.call("POST", f"/api/v1/runs/{first}/again", "viewer")
    assert r.status_code == 403 and "operator" in r.json()["error"], r.text
    assert (await rig.call("POST", "/api/v1/runs/nope/again", "operator")).status_code == 404
    assert (await rig.run(first))["status"] == "failed"
