"""A new pending approval is announced in the team chat once, with a link to the queue."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from app.llm.scripted import ScriptedModel
from app.services import approvals, intake
from app.services.auth import Principal
from app.store.tables import AuditEntry
from tests.support.app import full_container, triage_script


async def test_new_approvals_are_posted_once_with_a_link(db_url: str, tmp_path: Path) -> None:
    c, _ = full_container(
        db_url,
        tmp_path,
        ScriptedModel(triage_script(2)),
        SWITCHBOARD_NOTIFY="chat:#support",
        SWITCHBOARD_PUBLIC_URL="https://sb.example",
    )
    payload = {
        "subject": "Charged twice",
        "body": "Billed twice.",
        "requester_email": "ann@example.com",
        "external_id": 2,
    }
    run_id, _ = intake.submit(
        c.db, kind="ticket", run_kind="triage", payload=payload, source="api", actor="api"
    )
    await c.orchestrator.drain("w")
    pending = approvals.list_actions(c.db)
    chat = c.pool.connector("chat")

    async def notices() -> list[str]:
        history = await chat.channel_history(channel="#support", limit=50)  # type: ignore[attr-defined]
        return [m["text"] for m in history["messages"] if "waiting for approval" in m.get("text", "")]

    texts = await notices()
    assert len(texts) == len(pending) == 2
    for action in pending:
        assert sum(f"https://sb.example/ui/queue/{action['id']}" in t for t in texts) == 1
    assert c.orchestrator.on_parked is not None
    await c.orchestrator.on_parked(run_id, [])  # parked again with the same actions: no second notice
    assert len(await notices()) == 2
    approvals.approve(c.db, pending[0]["id"], Principal("pat", "approver"), c.pool.catalogue)
    await c.orchestrator.drain("w")  # the approved write runs; the run parks again for the other
    assert len(await notices()) == 2
    with c.db.session() as s:
        told = s.scalars(select(AuditEntry.subject_id).where(AuditEntry.event == "approval.notified")).all()
    assert sorted(told) == sorted(a["id"] for a in pending)  # each announced (and audited) once
    approvals.reject(c.db, pending[1]["id"], Principal("pat", "approver"), "not now")
    await c.orchestrator.drain("w")
    assert len(await notices()) == 2
    await c.pool.aclose()
