"""A workflow's read that fails: the run never ends `succeeded` on data it does not have.

Through the real engine and the payments simulator: a read a person must act on (the dispute
is not there, the credentials expired) fails the run with the error in its steps and `error`;
an outage sends it back to the queue with backoff, and once the system is back the run goes on.
No later step runs on the missing data."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from app.agent.run import READ_RETRIES
from app.services import approvals, workflows
from app.services.auth import Principal
from app.services.views import run_view
from app.store.tables import Connection, Run, utcnow
from tests.support.app import full_container

SPEC: dict[str, Any] = {
    "name": "post each new dispute in #billing",
    "trigger": {"connection": "payments", "event": "charge.dispute.created"},
    "steps": [
        {"tool": "payments__get_dispute", "arguments": {"dispute_id": "{{ event.id }}"}},
        {
            "tool": "chat__post_message",
            "arguments": {
                "channel": "#billing",
                "text": "Dispute {{ steps[0].result.id }} over {{ steps[0].result.amount }}",
            },
        },
    ],
}


def _one_try_per_pass(c: Any) -> None:
    """The payments connection tries each call once, so an outage reaches the run at once
    (the transport's own retries are tested in tests/connectors)."""
    with c.db.session() as s:
        row = s.query(Connection).filter_by(name="payments").one()
        row.config = {**(row.config or {}), "retry_attempts": 1}


async def _a_dispute(sims: dict[str, Any]) -> str:
    disputes = sims["payments"].state.payments.disputes
    return str(next(iter(disputes)))


def _past_backoff(c: Any, run_id: str) -> None:
    with c.db.session() as s:
        s.execute(update(Run).where(Run.id == run_id).values(not_before=utcnow() - timedelta(seconds=1)))


@pytest.mark.parametrize("fault", ["missing", "expired_credentials", "not_an_id"])
async def test_a_read_a_person_must_act_on_fails_the_run(db_url: str, tmp_path: Path, fault: str) -> None:
    c, sims = full_container(db_url, tmp_path)
    _one_try_per_pass(c)
    dispute: Any = {"missing": "dp_nothere", "not_an_id": 42}.get(fault) or await _a_dispute(sims)
    if fault == "expired_credentials":
        sims["payments"].state.faults.update({"reject_auth": True})
    run_id = workflows.start(c.db, "wf-read", SPEC, {"id": dispute}, f"evt_{fault}")
    await c.orchestrator.drain("w")

    run = run_view(c.db, run_id)
    assert run["status"] == "failed", run
    assert "step0" in run["error"] and "payments__get_dispute" in run["error"]
    [read] = [s["data"] for s in run["steps"] if s["kind"] == "tool_call"]
    assert read["tool"] == "payments__get_dispute" and read["is_error"]
    assert any(s["kind"] == "error" for s in run["steps"])
    assert run["actions"] == []  # the post that needed the dispute was never proposed
    await c.pool.aclose()


async def test_a_write_people_rejected_stops_the_chain_without_failing(db_url: str, tmp_path: Path) -> None:
    c, sims = full_container(db_url, tmp_path)
    dispute = await _a_dispute(sims)
    run_id = workflows.start(c.db, "wf-read", SPEC, {"id": dispute}, "evt_rejected")
    await c.orchestrator.drain("w")
    [post] = run_view(c.db, run_id)["actions"]
    approvals.reject(c.db, post["id"], Principal("pat", "approver"), "not this channel")
    await c.orchestrator.drain("w")

    run = run_view(c.db, run_id)
    assert run["status"] == "succeeded" and run["error"] is None, run
    assert run["result"]["stopped_at"] == 1 and "not this channel" in run["result"]["reason"]
    await c.pool.aclose()


async def test_an_outage_during_a_read_requeues_then_goes_on(db_url: str, tmp_path: Path) -> None:
    c, sims = full_container(db_url, tmp_path)
    _one_try_per_pass(c)
    dispute = await _a_dispute(sims)
    sims["payments"].state.faults.update({"fail_next": 1, "status": 503})
    run_id = workflows.start(c.db, "wf-read", SPEC, {"id": dispute}, "evt_outage")
    await c.orchestrator.drain("w")

    run = run_view(c.db, run_id)
    assert run["status"] == "queued" and "503" in (run["error"] or ""), run
    assert run["actions"] == [] and not [s for s in run["steps"] if s["kind"] == "tool_call"]

    _past_backoff(c, run_id)
    await c.orchestrator.drain("w")
    run = run_view(c.db, run_id)
    assert run["status"] == "waiting_approval", run
    [post] = run["actions"]
    assert post["operation"] == "post_message" and dispute in post["arguments"]["text"]
    await c.pool.aclose()


async def test_an_outage_that_lasts_fails_the_run_with_the_error(db_url: str, tmp_path: Path) -> None:
    c, sims = full_container(db_url, tmp_path)
    _one_try_per_pass(c)
    dispute = await _a_dispute(sims)
    sims["payments"].state.faults.update({"outage_seconds": 600, "status": 503})
    run_id = workflows.start(c.db, "wf-read", SPEC, {"id": dispute}, "evt_down")
    for _ in range(READ_RETRIES + 1):
        _past_backoff(c, run_id)
        await c.orchestrator.drain("w")

    run = run_view(c.db, run_id)
    assert run["status"] == "failed", run
    assert "payments__get_dispute" in run["error"] and "503" in run["error"]
    assert run["actions"] == []
    await c.pool.aclose()


async def test_a_dry_run_says_the_run_would_fail_where_a_read_fails(db_url: str, tmp_path: Path) -> None:
    from app.services import workflow_dryrun

    c, _ = full_container(db_url, tmp_path)
    saved = workflows.save_draft(c.db, "post each new dispute", Principal("olga", "operator"), {"spec": SPEC})
    catalogue = await c.pool.load()

    out = await workflow_dryrun.dry_run(
        c.db, saved["id"], catalogue, c.policy(), {"id": "dp_nothere"}, actor="olivia"
    )

    assert out["outcome"]["fails"].startswith("step0: ") and "dp_nothere" in out["outcome"]["fails"]
    assert [s["would"] for s in out["steps"]] == ["fail"]  # the post was never tried
    await c.pool.aclose()
