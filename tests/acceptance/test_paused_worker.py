"""A worker that freezes between committing `executing` and sending its request (a GC pause, a
frozen VM) does not post a help-desk reply that the worker which took its run over has posted:
the reply is posted once. Its heartbeat is frozen with it, so its lease lapses; the request is
refused because the lease `start_execution` renewed ran out meanwhile (app/agent/lease.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from app.agent.orchestrator import worker_id
from app.agent.run import RunContext
from app.services import approvals
from app.services.auth import Principal
from app.services.mcp_calls import proposer
from app.services.views import run_view
from app.store.tables import Run, utcnow
from connectors.helpdesk.simulator import create_app
from tests.support.app import container

REPLY = "Your replacement ships today."


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_worker_frozen_before_its_request_does_not_post_the_reply_again(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = create_app()
    c = container(db_url, tmp_path, sim=sim)
    clock = c.orchestrator.clock = Monotonic()
    propose = proposer(c.db, lambda r: c.orchestrator.advance_now(r, worker_id()))
    tool = (await c.pool.load()).get("helpdesk__add_comment")
    proposal = await propose(
        tool, {"ticket_id": 2, "body": REPLY, "public": True}, Principal("olga", "operator")
    )
    action_id = proposal["action_id"]
    approvals.approve(c.db, action_id, Principal("pat", "approver"), c.pool.catalogue)
    before = len(sim.state.helpdesk.ticket_comments(2))

    send = RunContext._invoke
    took_over: list[str] = []

    async def frozen_then_send(self: RunContext, tool: Any, arguments: Any, key: str | None) -> Any:
        if self.owner == "A" and key:
            # A froze right here, heartbeat and all: its clock moved on, its lease lapsed, and
            # B took the run over, resumed the write and finished the run. Then A wakes up.
            clock.now += c.orchestrator.lease_seconds + 1
            with c.db.session() as s:
                s.execute(
                    update(Run)
                    .where(Run.id == self.run.id)
                    .values(lease_expires_at=utcnow() - timedelta(seconds=1))
                )
            took_over.append(await c.orchestrator.run_once("B") or "")
        return await send(self, tool, arguments, key)

    monkeypatch.setattr(RunContext, "_invoke", frozen_then_send)
    run_id = await c.orchestrator.run_once("A")
    assert run_id is not None and took_over == [run_id]

    posted = [x["body"] for x in sim.state.helpdesk.ticket_comments(2)][before:]
    assert posted == [REPLY]  # B's; A sent nothing
    view = run_view(c.db, run_id)
    assert view["status"] == "succeeded", view["error"]
    [action] = view["actions"]
    assert action["status"] == "succeeded" and action["attempts"] == 2
    await c.pool.aclose()
