"""Gauges read from the database at scrape time, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.api import metrics
from app.store.db import Database
from app.store.tables import Action, Connection, Run, utcnow
from tests.observability.conftest import sample


def _action(run_id: str, status: str, age: timedelta, n: int) -> Action:
    return Action(
        run_id=run_id,
        tool_call_id=f"c{n}",
        tool="desk__reply",
        connection="desk",
        operation="reply",
        arguments={},
        proposed_arguments={},
        status=status,
        created_at=utcnow() - age,
    )


def test_queue_approvals_and_credentials_gauges(db: Database) -> None:
    now = utcnow()
    with db.session() as s:
        waiting = Run(kind="triage", status="waiting_approval")
        s.add_all(
            [
                Run(kind="triage", status="queued", updated_at=now - timedelta(seconds=120)),
                # requeued after a fault: it has been runnable only since its backoff ended
                Run(
                    kind="triage",
                    status="queued",
                    updated_at=now - timedelta(seconds=900),
                    not_before=now - timedelta(seconds=30),
                ),
                Run(kind="chat", status="queued", not_before=now + timedelta(seconds=600)),
                Run(kind="chat", status="running"),
                waiting,
            ]
        )
        s.flush()
        s.add_all(
            [
                _action(waiting.id, "pending", timedelta(hours=2), 1),
                _action(waiting.id, "pending", timedelta(minutes=1), 2),
                _action(waiting.id, "approved", timedelta(days=3), 3),
            ]
        )
        s.add_all(
            [
                Connection(
                    name="crm",
                    kind="crm",
                    base_url="https://crm",
                    status="ok",
                    token_expires_at=now + timedelta(hours=1),
                ),
                Connection(name="desk", kind="helpdesk", base_url="https://desk", status="error"),
            ]
        )

    metrics.refresh(db)

    assert sample("switchboard_runs", kind="triage", status="queued") == 2
    assert sample("switchboard_queue_depth", state="runnable") == 2
    assert sample("switchboard_queue_depth", state="backoff") == 1
    assert sample("switchboard_queue_oldest_age_seconds") == pytest.approx(120, abs=10)
    assert sample("switchboard_approvals_pending") == 2
    assert sample("switchboard_approvals_oldest_age_seconds") == pytest.approx(7200, abs=10)
    assert sample("switchboard_credential_expiry_seconds", connection="crm") == pytest.approx(3600, abs=10)
    assert sample("switchboard_connection_healthy", connection="crm") == 1
    assert sample("switchboard_connection_healthy", connection="desk") == 0


def test_an_empty_queue_reads_as_zero(db: Database) -> None:
    metrics.refresh(db)
    assert sample("switchboard_queue_depth", state="runnable") == 0
    assert sample("switchboard_queue_oldest_age_seconds") == 0
    assert sample("switchboard_approvals_oldest_age_seconds") == 0
