"""`switchboard approvals retry|dismiss`: a failed approved write from a terminal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.helpdesk.simulator import create_app
from tests.support.loopback import LoopbackServer
from tests.test_cli import env, sb

__all__ = ["env"]


def test_retry_and_dismiss_a_failed_write(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "SWITCHBOARD_TOKEN", sb("tokens", "create", "--name", "pat", "--role", "approver")[1].strip()
    )
    sim = create_app()
    with LoopbackServer(sim) as server:
        assert sb("connections", "add", "helpdesk", "--kind", "helpdesk", "--base-url", server.url)[0] == 0
        tickets = env / "tickets.jsonl"
        ticket = {
            "subject": "Cannot log in",
            "body": "My password reset link does not work",
            "requester_email": "ann.lee@example.com",
            "external_id": 3,
        }
        tickets.write_text(json.dumps(ticket) + "\n")
        assert sb("triage", str(tickets))[0] == 0
        pending = json.loads(sb("approvals", "list", "--json")[1])
        sim.state.faults.update({"error_rate": 1.0, "status": 422, "methods": ["PUT"]})
        for a in pending:
            code, said = sb("approvals", "approve", a["id"])
            assert code == 0, said
        assert sb("worker", "--once")[0] == 0

        code, out = sb("approvals", "list", "--status", "failed", "--json")
        failed = json.loads(out)
        assert sorted(a["id"] for a in failed) == sorted(a["id"] for a in pending)
        assert all("422" in a["error"] for a in failed)
        reply, other = sorted(failed, key=lambda a: a["operation"])
        assert sb("approvals", "dismiss", reply["id"])[0] == 2  # a reason is required
        code, out = sb("approvals", "dismiss", reply["id"], "--reason", "answered by phone")
        assert code == 0 and "dismissed" in out
        code, out = sb("approvals", "retry", reply["id"])
        assert code == 2 and "has not failed" in out

        sim.state.faults.reset()
        code, out = sb("approvals", "retry", other["id"])
        assert code == 0 and "retrying" in out
        assert sb("worker", "--once")[0] == 0
        done = {a["id"]: a for a in json.loads(sb("approvals", "list", "--status", "all", "--json")[1])}
        assert done[other["id"]]["status"] == "succeeded" and done[other["id"]]["attempts"] == 2
        assert done[reply["id"]]["status"] == "dismissed"
