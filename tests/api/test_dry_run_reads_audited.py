"""A dry run's reads are tool calls made for a person, and leave a trace like any other.

Promise 5: every tool call is in a run's steps and the audit log. A dry run stores no run and
no step by design, yet its reads run for real against the connected systems, with the
arguments of a spec the operator wrote and an event the operator typed. So each dry run is an
audit row of the person who asked, naming the tools it read and their arguments, as a read
through Switchboard's MCP server (`mcp.tool_call`) or a chat turn's step is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.api.app import create_app
from app.store.tables import AuditEntry
from tests.support.systems import Systems, systems


@pytest.fixture
async def world(
    db_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Systems, httpx.AsyncClient, dict[str, dict[str, str]]]]:
    with systems(db_url, tmp_path) as sy:
        people = sy.tokens(("olivia", "operator"), ("adam", "approver"))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(sy.c)), base_url="http://sb"
        ) as api:
            yield sy, api, people
        await sy.c.pool.aclose()


async def test_the_reads_of_a_dry_run_are_in_the_audit_log(world: Any) -> None:
    sy, api, people = world
    charge = sy.charge("raj.patel@example.org", 21800)
    sentence = "When a dispute opens in payments, open a ticket and post in #billing"
    draft = (await api.post("/api/v1/workflows", json={"request": sentence}, headers=people["olivia"])).json()
    spec = {
        "name": "look around",
        "trigger": {"connection": "payments", "event": "charge.dispute.created"},
        "steps": [{"tool": "payments__get_charge", "arguments": {"charge_id": "{{ event.charge }}"}}],
    }
    r = await api.post(
        f"/api/v1/workflows/{draft['id']}/versions", json={"spec": spec}, headers=people["olivia"]
    )
    assert r.status_code == 201, r.text
    version = r.json()
    with sy.c.db.read() as s:
        before = s.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1)) or 0

    r = await api.post(
        f"/api/v1/workflows/{version['id']}/dry-run",
        json={"event": {"charge": charge}},
        headers=people["olivia"],
    )
    assert r.status_code == 200, r.text
    dry = r.json()
    [read] = dry["steps"]
    assert read["would"] == "read" and charge in str(read["result"])  # the charge was read for olivia

    with sy.c.db.read() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.id > before)).all()
        trail = [(e.actor, e.event, e.subject_type, e.subject_id, e.data) for e in rows]
    assert any(actor == "olivia" and "payments__get_charge" in str(row) for actor, *row in trail), (
        f"olivia's dry run read charge {charge} from payments (payments__get_charge) and the audit "
        f"log has nothing of it; rows written since: {trail}"
    )
