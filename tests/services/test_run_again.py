"""Which failed runs run again, as whom, and which do not (app/services/reruns.py).

Runs fail for real here: a refund request whose model answers outside the schema, a workflow whose
payments system stays down past its retries. The API's own tests are in tests/api/test_run_again.py."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from app.agent.run import READ_RETRIES
from app.llm.base import ModelRequest, ModelResponse
from app.llm.local import LocalModel
from app.llm.scripted import output
from app.services import approvals, intake, reruns, workflows
from app.services.auth import Principal
from app.services.errors import Conflict, Forbidden, NotFound
from app.services.views import run_view
from app.store.tables import Connection, Run, utcnow
from tests.services.test_workflow_reads import SPEC
from tests.support.app import full_container

OLLY = Principal("olly", "operator")
KIM = Principal("clerk-kim", "approver")
PAT = Principal("pat", "approver")


class OffSchema:
    """The local model, except that while `broken` every structured answer misses its schema."""

    name = "local"

    def __init__(self) -> None:
        self.inner, self.broken = LocalModel(), True

    async def complete(self, request: ModelRequest) -> ModelResponse:
        if self.broken and request.output_schema is not None:
            return output({"off": "schema"})
        return await self.inner.complete(request)


def _past_backoff(c: Any, run_id: str) -> None:
    with c.db.session() as s:
        s.execute(update(Run).where(Run.id == run_id).values(not_before=utcnow() - timedelta(seconds=1)))


async def test_a_refund_request_run_again_stays_its_requesters(db_url: str, tmp_path: Path) -> None:
    """A refund record is the clerk's request for the refund: run again by someone else, it is
    still the clerk's, and the clerk still may not approve it."""
    model = OffSchema()
    c, _ = full_container(db_url, tmp_path, model)
    payments = c.pool.connector("payments")
    customer = await payments.find_customer(email="ann.lee@example.com")  # type: ignore[attr-defined]
    [charge, *_] = await payments.list_charges(customer_id=customer["id"])  # type: ignore[attr-defined]
    record = {
        "kind": "refund",
        "amount": "5.00",
        "currency": "USD",
        "counterparty": "Ann Lee",
        "description": "refund requested by phone",
        "customer_email": "ann.lee@example.com",
        "charge_id": charge["id"],
    }
    first, _ = intake.submit(
        c.db, kind="record", run_kind="record", payload=record, source="api", actor=KIM.name
    )
    await c.orchestrator.drain("w")
    assert run_view(c.db, first)["status"] == "failed"

    model.broken = False
    again = reruns.run_again(c.db, first, OLLY)["run_id"]
    await c.orchestrator.drain("w")

    view = run_view(c.db, again)
    assert view["status"] == "waiting_approval", view["error"]
    [refund] = [a for a in view["actions"] if a["operation"] == "create_refund"]
    assert refund["requested_by"] == KIM.name
    with pytest.raises(Forbidden, match="four eyes"):
        approvals.approve(c.db, refund["id"], KIM, c.pool.catalogue)
    approvals.approve(c.db, refund["id"], PAT, c.pool.catalogue)
    await c.orchestrator.drain("w")
    assert run_view(c.db, again)["status"] == "succeeded"
    await c.pool.aclose()


async def _active_workflow(c: Any) -> dict[str, Any]:
    """An active workflow on SPEC, its payments connection trying each call once per pass (an
    outage reaches the run at once; the transport's own retries are tested in tests/connectors)."""
    with c.db.session() as s:
        row = s.query(Connection).filter_by(name="payments").one()
        row.config = {**(row.config or {}), "retry_attempts": 1}
    saved = workflows.save_draft(c.db, "post each new dispute", Principal("olga", "operator"), {"spec": SPEC})
    return workflows.activate(c.db, saved["id"], PAT, await c.pool.load())


async def _failed_workflow_run(c: Any, sims: dict[str, Any], workflow: dict[str, Any], event: str) -> str:
    """A run of `workflow` whose read stays down past its retries."""
    dispute = str(next(iter(sims["payments"].state.payments.disputes)))
    sims["payments"].state.faults.update({"outage_seconds": 600, "status": 503})
    run_id = workflows.start(c.db, workflow["id"], workflow["spec"], {"id": dispute}, event)
    for _ in range(READ_RETRIES + 1):
        _past_backoff(c, run_id)
        await c.orchestrator.drain("w")
    assert run_view(c.db, run_id)["status"] == "failed"
    sims["payments"].state.faults.reset()  # the outage is over,
    c.pool.breakers["payments"].reset_after = 0  # and the breaker's wait too: its next call is a trial
    return run_id


async def test_a_failed_workflow_run_runs_again_once_its_system_is_back(db_url: str, tmp_path: Path) -> None:
    c, sims = full_container(db_url, tmp_path)
    workflow = await _active_workflow(c)
    first = await _failed_workflow_run(c, sims, workflow, "evt_down")

    again = reruns.run_again(c.db, first, OLLY)["run_id"]
    await c.orchestrator.drain("w")

    view = run_view(c.db, again)
    assert view["status"] == "waiting_approval", view["error"]
    [post] = view["actions"]
    assert post["operation"] == "post_message" and post["arguments"]["channel"] == "#billing"
    # still the workflow's run, listed with its runs
    listed = [r["id"] for r in workflows.get_workflow(c.db, workflow["id"])["last_runs"]]
    assert listed[:2] == [again, first]
    await c.pool.aclose()


async def test_a_workflow_run_runs_again_only_while_its_workflow_is_active(
    db_url: str, tmp_path: Path
) -> None:
    c, sims = full_container(db_url, tmp_path)
    workflow = await _active_workflow(c)
    first = await _failed_workflow_run(c, sims, workflow, "evt_paused")

    workflows.pause(c.db, workflow["id"], PAT)
    with pytest.raises(Conflict, match="which is paused, not active; resume it first"):
        reruns.run_again(c.db, first, OLLY)
    assert reruns.offer(c.db, first)["can"] is False
    workflows.resume(c.db, workflow["id"], PAT)
    assert reruns.offer(c.db, first) == {"can": True, "why": None, "later_run": None}

    edited = workflows.save_draft(
        c.db, "post each new dispute", Principal("olga", "operator"), {"spec": SPEC}, edits=workflow["id"]
    )
    workflows.activate(c.db, edited["id"], PAT, await c.pool.load())
    with pytest.raises(Conflict, match="which is superseded, not active; a later version replaced it"):
        reruns.run_again(c.db, first, OLLY)
    with c.db.session() as s:
        assert s.query(Run).filter(Run.kind == "workflow").count() == 1  # nothing was queued
    await c.pool.aclose()


@pytest.mark.parametrize("kind", ["chat", "mcp_call", "workflow_draft"])
async def test_requests_whose_asker_has_moved_on_are_not_run_again(
    db_url: str, tmp_path: Path, kind: str
) -> None:
    """A chat turn, an MCP client's write request and a workflow draft were each answered to
    someone waiting at the time; a new run would answer nobody (and an MCP write run again by
    another person would no longer be its client's request)."""
    c, _ = full_container(db_url, tmp_path)
    with c.db.session() as s:
        run = Run(kind=kind, input={kind: {}}, created_by=OLLY.name, status="failed", error="boom")
        s.add(run)
        s.flush()
        run_id = run.id
    with pytest.raises(Conflict, match=f"run {run_id} is a {kind} run: "):
        reruns.run_again(c.db, run_id, OLLY)
    if kind == "chat":  # someone else's conversation is not said to exist
        with pytest.raises(NotFound):
            reruns.run_again(c.db, run_id, Principal("other", "operator"))
    with c.db.session() as s:
        assert s.query(Run).count() == 1
    await c.pool.aclose()


async def test_a_run_that_made_a_write_before_it_failed_is_not_run_again(db_url: str, tmp_path: Path) -> None:
    """A workflow posts in #billing, then its read of the dispute meets an outage past its retries.
    Run again, it would post a second time (the new action's id is a new idempotency key): it is
    refused, naming the write it made, and the page offers nothing."""
    c, sims = full_container(db_url, tmp_path)
    with c.db.session() as s:
        row = s.query(Connection).filter_by(name="payments").one()
        row.config = {**(row.config or {}), "retry_attempts": 1}
    spec = {
        "name": "post then read",
        "trigger": {"connection": "payments", "event": "charge.dispute.created"},
        "steps": [
            {
                "tool": "chat__post_message",
                "arguments": {"channel": "#billing", "text": "A dispute was opened"},
            },
            {"tool": "payments__get_dispute", "arguments": {"dispute_id": "{{ event.id }}"}},
        ],
    }
    saved = workflows.save_draft(c.db, "post then read", Principal("olga", "operator"), {"spec": spec})
    workflow = workflows.activate(c.db, saved["id"], PAT, await c.pool.load())
    dispute = str(next(iter(sims["payments"].state.payments.disputes)))
    run_id = workflows.start(c.db, workflow["id"], workflow["spec"], {"id": dispute}, "evt_made")
    await c.orchestrator.drain("w")
    [pending] = [a for a in run_view(c.db, run_id)["actions"] if a["status"] == "pending"]
    approvals.approve(c.db, pending["id"], PAT, c.pool.catalogue)  # the post goes out...
    sims["payments"].state.faults.update({"outage_seconds": 600, "status": 503})  # ...then the read fails
    await c.orchestrator.drain("w")
    for _ in range(READ_RETRIES + 2):
        _past_backoff(c, run_id)
        await c.orchestrator.drain("w")
    view = run_view(c.db, run_id)
    assert view["status"] == "failed", view["status"]
    [post] = [a for a in view["actions"] if a["operation"] == "post_message"]
    assert post["status"] == "succeeded"

    with pytest.raises(Conflict, match=f"already made chat__post_message \\({post['id']}\\)"):
        reruns.run_again(c.db, run_id, OLLY)
    assert reruns.offer(c.db, run_id)["can"] is False
    with c.db.session() as s:
        assert s.query(Run).filter(Run.kind == "workflow").count() == 1  # nothing was queued
    await c.pool.aclose()
