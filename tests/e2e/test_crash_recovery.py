"""Workers killed with SIGKILL mid-run: after a restart each write lands exactly once."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.main import Container
from app.services import approvals, intake
from app.services.auth import Principal
from app.services.connections import add_connection
from app.services.views import run_view
from connectors.helpdesk.simulator import create_app
from tests.support.loopback import LoopbackServer
from tests.support.processes import kill, spawn, wait_for

pytestmark = pytest.mark.e2e
APPROVER = Principal("pat", "approver")


@pytest.fixture
def sim() -> Iterator[tuple[Any, str]]:
    app = create_app()
    with LoopbackServer(app) as server:
        yield app, server.url


class Rig:
    def __init__(self, db_url: str, tmp: Path, sim_url: str):
        self.tmp = tmp
        self.sim_url = sim_url
        self.env = {
            "DATABASE_URL": db_url,
            "SWITCHBOARD_DATA_DIR": str(tmp),
            "SWITCHBOARD_MODEL": "local",
            "SWITCHBOARD_LEASE_SECONDS": "2",
            "SWITCHBOARD_POLL_SECONDS": "0.1",
        }
        self.c = Container(
            Settings.model_validate({"DATABASE_URL": db_url, "SWITCHBOARD_DATA_DIR": str(tmp)})
        )
        self.c.db.upgrade()
        add_connection(self.c.db, self.c.box, name="helpdesk", kind="helpdesk", base_url=sim_url, owner="ops")
        self.workers: list[Any] = []

    def worker(self) -> Any:
        proc = spawn(["worker"], self.env, self.tmp / f"worker{len(self.workers)}.log")
        self.workers.append(proc)
        return proc

    def faults(self, **settings: Any) -> None:
        if settings:
            httpx.post(f"{self.sim_url}/_faults", json=settings).raise_for_status()
        else:
            httpx.delete(f"{self.sim_url}/_faults").raise_for_status()

    def submit(self, ticket_id: int) -> str:
        payload = {
            "subject": "Charged twice",
            "body": "I was billed twice this month; please refund one charge.",
            "requester_email": "ann.lee@example.com",
            "external_id": ticket_id,
        }
        return intake.submit(
            self.c.db, kind="ticket", run_kind="triage", payload=payload, source="api", actor="api"
        )[0]

    def run(self, run_id: str) -> dict[str, Any]:
        return run_view(self.c.db, run_id)

    def wait_status(self, run_id: str, *statuses: str, timeout: float = 90) -> dict[str, Any]:
        view = wait_for(
            f"run in {statuses}",
            lambda: (v := self.run(run_id))["status"] in (*statuses, "failed") and v,
            timeout=timeout,
        )
        assert view["status"] in statuses, view.get("error")
        return view

    def close(self) -> None:
        for w in self.workers:
            kill(w)
        self.c.db.dispose()


@pytest.fixture
def rig(db_url: str, tmp_path: Path, sim: tuple[Any, str]) -> Iterator[Rig]:
    r = Rig(db_url, tmp_path, sim[1])
    yield r
    r.close()


def audits_for(sim_app: Any, ticket_id: int, action_id: str) -> int:
    audits = sim_app.state.helpdesk.ticket_audits(ticket_id)
    return sum(
        1 for a in audits if a.get("metadata", {}).get("custom", {}).get("switchboard_action_id") == action_id
    )


def test_killed_while_an_approved_write_is_executing(rig: Rig, sim: tuple[Any, str]) -> None:
    sim_app, _ = sim
    ticket_id = 4
    run_id = rig.submit(ticket_id)
    w1 = rig.worker()
    run = rig.wait_status(run_id, "waiting_approval")
    pending = [a for a in run["actions"] if a["status"] == "pending"]
    reply = next(a for a in pending if a["operation"] == "add_comment")

    # the write lands in the help desk, but its answer never comes back to this worker
    rig.faults(delay_after_write_ms=60_000, methods=["PUT"])
    for a in pending:
        approvals.approve(rig.c.db, a["id"], APPROVER, rig.c.pool.catalogue)
    wait_for("the reply to land", lambda: audits_for(sim_app, ticket_id, reply["id"]) == 1)
    assert next(a for a in rig.run(run_id)["actions"] if a["id"] == reply["id"])["status"] == "executing"
    kill(w1, signal.SIGKILL)

    rig.faults()
    rig.worker()
    done = rig.wait_status(run_id, "succeeded")
    for a in pending:
        assert audits_for(sim_app, ticket_id, a["id"]) == 1, a["operation"]
    bodies = [c["body"] for c in sim_app.state.helpdesk.ticket_comments(ticket_id)]
    assert bodies.count(reply["arguments"]["body"]) == 1
    final = {a["id"]: a for a in done["actions"]}
    assert final[reply["id"]]["status"] == "succeeded" and final[reply["id"]]["attempts"] == 2
    assert final[reply["id"]]["result"]["data"]["deduplicated"] is True


def test_killed_between_steps(rig: Rig, sim: tuple[Any, str]) -> None:
    sim_app, _ = sim
    ticket_id = 6
    rig.faults(latency_ms=1500, methods=["GET"])  # every read is slow, so the kill lands mid-run
    run_id = rig.submit(ticket_id)
    w1 = rig.worker()
    wait_for(
        "a first committed step",
        lambda: len(rig.run(run_id)["steps"]) >= 1 and rig.run(run_id)["status"] == "running",
    )
    kill(w1, signal.SIGKILL)
    steps_at_kill = len(rig.run(run_id)["steps"])
    assert rig.run(run_id)["status"] == "running"

    rig.faults()
    rig.worker()
    run = rig.wait_status(run_id, "waiting_approval")
    names = [s["name"] for s in run["steps"]]
    assert len(names) == len(set(names)), "a step was recorded twice"
    assert [s["seq"] for s in run["steps"]] == list(range(1, len(names) + 1))
    assert len(names) > steps_at_kill
    assert run["attempts"] == 2

    pending = [a for a in run["actions"] if a["status"] == "pending"]
    for a in pending:
        approvals.approve(rig.c.db, a["id"], APPROVER, rig.c.pool.catalogue)
    rig.wait_status(run_id, "succeeded")
    for a in pending:
        assert audits_for(sim_app, ticket_id, a["id"]) == 1, a["operation"]
