"""Alerts to the team chat: each rule fires from what the database shows, once per repeat period."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import update

from app.main import Container
from app.services.alerts import AlertMonitor, Rules, evaluate
from app.store.tables import Action, Connection, Run, utcnow
from tests.support.app import full_container

RULES = Rules(
    window=timedelta(minutes=15),
    repeat=timedelta(minutes=60),
    errors=2,
    rate_limited=3,
    approval_age=timedelta(hours=4),
    credential_horizon=timedelta(hours=72),
)


async def posted(c: Container, channel: str = "#general") -> list[str]:
    history = await c.pool.connector("chat").channel_history(channel=channel, limit=100)  # type: ignore[attr-defined]
    return [m["text"] for m in history["messages"] if "/ui/" in m.get("text", "")]  # ours link the UI


def overdue_approval(c: Container, hours: float) -> None:
    with c.db.session() as s:
        run = Run(kind="triage", status="waiting_approval")
        s.add(run)
        s.flush()
        s.add(
            Action(
                run_id=run.id,
                tool_call_id="c1",
                tool="helpdesk__add_comment",
                connection="helpdesk",
                operation="add_comment",
                arguments={},
                proposed_arguments={},
                created_at=utcnow() - timedelta(hours=hours),
            )
        )


async def test_each_rule_posts_once_then_again_after_the_repeat_period(db_url: str, tmp_path: Path) -> None:
    c, sims = full_container(db_url, tmp_path)
    # a storm of 429s from the help desk, retried by the transport (and audited as retries)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sims["helpdesk"])) as sim:
        await sim.post("http://helpdesk.sim/_faults", json={"rate_limit_next": 3, "retry_after": 0})
    checked = await c.pool.test("helpdesk")
    assert checked["health"] == "ok" and [r["status"] for r in checked["retries"]] == [429, 429, 429]
    # two failed runs, an approval waiting 5 hours, a payments key that expires in 2 hours
    with c.db.session() as s:
        s.add_all([Run(kind="triage", status="failed"), Run(kind="chat", status="failed")])
        s.execute(
            update(Connection)
            .where(Connection.name == "payments")
            .values(token_expires_at=utcnow() + timedelta(hours=2))
        )
    overdue_approval(c, hours=5)

    monitor = AlertMonitor(c.db, c.pool, "chat:#general", RULES)
    first = await monitor.tick()
    assert sorted(a.rule for a in first) == ["approvals", "credential", "errors", "rate_limit"]
    texts = await posted(c)
    assert len(texts) == 4
    assert any("helpdesk is rate limiting: 3 calls refused with 429" in t for t in texts)
    assert any(t.startswith("2 runs failed in the last 15 minutes") for t in texts)
    assert any("1 approval has waited longer than 4 hours (the oldest 5 hours)" in t for t in texts)
    assert any("credential of connection payments expires in 1 hour" in t for t in texts)

    # evaluated again (every minute, by every API process): nothing new is posted
    assert await monitor.tick() == []
    assert await AlertMonitor(c.db, c.pool, "chat:#general", RULES).tick() == []
    assert len(await posted(c)) == 4

    # an hour later: the storm and the failures are out of the window; what still holds is said again
    later = await monitor.tick(now=utcnow() + timedelta(minutes=61))
    assert sorted(a.rule for a in later) == ["approvals", "credential"]
    assert len(await posted(c)) == 6
    await c.pool.aclose()


async def test_rules_at_zero_are_off_and_self_renewing_credentials_are_quiet(
    db_url: str, tmp_path: Path
) -> None:
    c, _ = full_container(db_url, tmp_path)
    overdue_approval(c, hours=30)
    with c.db.session() as s:
        s.add_all(
            [
                Connection(
                    name="crm2",
                    kind="crm",
                    base_url="https://crm.example",
                    auth_type="oauth2_client_credentials",
                    status="ok",
                    token_expires_at=utcnow() + timedelta(minutes=20),
                ),
                Connection(
                    name="crm3",
                    kind="crm",
                    base_url="https://crm.example",
                    auth_type="oauth2_refresh_token",
                    status="error",
                    token_expires_at=utcnow() - timedelta(hours=3),
                ),
            ]
        )
    found = evaluate(c.db, RULES)
    # an access token that renews itself on its next call is no news; one whose refresh failed is
    assert [a.text for a in found if a.rule == "credential"] == [
        "The credential of connection crm3 expired 3 hours ago and could not be renewed: /ui/connections"
    ]
    assert [a.rule for a in found if a.rule == "approvals"] == ["approvals"]
    quiet = Rules(errors=0, rate_limited=0, approval_age=timedelta(0), credential_horizon=timedelta(0))
    assert evaluate(c.db, quiet) == []
    await c.pool.aclose()


async def test_an_unreachable_channel_is_logged_and_retried_next_time(db_url: str, tmp_path: Path) -> None:
    c, _ = full_container(db_url, tmp_path)
    overdue_approval(c, hours=5)
    nowhere = AlertMonitor(c.db, c.pool, "no-such-connection:#general", RULES)
    assert await nowhere.tick() == []
    # nothing was recorded as sent, so a working channel still gets it
    sent: list[Any] = await AlertMonitor(c.db, c.pool, "chat:#general", RULES).tick()
    assert [a.rule for a in sent] == ["approvals"]
    await c.pool.aclose()


async def test_the_api_process_evaluates_alerts_on_a_schedule(db_url: str, tmp_path: Path) -> None:
    import asyncio

    from app.api.app import create_app

    c, _ = full_container(
        db_url, tmp_path, SWITCHBOARD_ALERTS="chat:#general", SWITCHBOARD_ALERT_SECONDS="0.05"
    )
    overdue_approval(c, hours=5)
    app = create_app(c)
    async with app.router.lifespan_context(app):
        for _ in range(200):
            if await posted(c):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # a few more evaluations: still one message
    assert await posted(c) == ["1 approval has waited longer than 4 hours (the oldest 5 hours): /ui/queue"]


async def test_a_worker_told_to_evaluates_alerts_where_no_api_process_runs(
    db_url: str, tmp_path: Path
) -> None:
    import asyncio

    from app.cli.main import _work_and_schedule

    c, _ = full_container(
        db_url, tmp_path, SWITCHBOARD_ALERTS="chat:#general", SWITCHBOARD_ALERT_SECONDS="0.05"
    )
    overdue_approval(c, hours=5)
    stop = asyncio.Event()
    working = asyncio.create_task(_work_and_schedule(c, "w-alerts", alerts=True, stop=stop))
    try:
        for _ in range(200):
            if await posted(c):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await working
    assert await posted(c) == ["1 approval has waited longer than 4 hours (the oldest 5 hours): /ui/queue"]


def test_worker_alerts_without_a_channel_is_refused_in_words(tmp_path: Path, monkeypatch: Any) -> None:
    from typer.testing import CliRunner

    from app.cli.main import app as cli

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'sb.db'}")
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SWITCHBOARD_SECRET_KEY", "a-test-key-of-sixteen-chars")
    monkeypatch.delenv("SWITCHBOARD_ALERTS", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(cli, ["worker", "--alerts"])
    assert result.exit_code == 2
    assert "SWITCHBOARD_ALERTS" in result.output and "not set" in result.output
