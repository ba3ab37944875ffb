"""Retried calls are visible: in the run's steps, on the connection's health, and in
`switchboard connections test` (the simulator's /_faults makes the system rate limit)."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.llm.scripted import ScriptedModel
from app.services import intake
from app.services.connections import list_connections
from app.services.views import run_view
from connectors.base import noting_calls
from connectors.helpdesk.simulator import create_app
from connectors.http import RetryPolicy, build_client
from tests.support.app import container, triage_script


async def test_the_transport_tells_each_retry() -> None:
    answers = iter(
        [httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(503), httpx.Response(200)]
    )
    told: list[dict[str, object]] = []

    async def no_sleep(_: float) -> None:
        return None

    client = build_client(
        "https://desk.example",
        transport=httpx.MockTransport(lambda _: next(answers)),
        retry=RetryPolicy(sleep=no_sleep, backoff_initial=0.25, jitter=0, on_retry=told.append),
    )
    with noting_calls() as notes:
        assert (await client.get("/api/v2/tickets/1.json")).status_code == 200
    await client.aclose()
    assert [(e["attempt"], e.get("status"), e["wait_seconds"]) for e in notes] == [
        (1, 429, 0.0),
        (2, 503, 0.5),
    ]
    assert told == notes and all(e["path"] == "/api/v2/tickets/1.json" for e in notes)


async def test_a_rate_limited_read_shows_in_the_steps_and_the_health(db_url: str, tmp_path: Path) -> None:
    sim = create_app()
    c = container(db_url, tmp_path, ScriptedModel(triage_script(1)), sim)
    run_id = intake.submit(
        c.db,
        kind="ticket",
        run_kind="triage",
        payload={
            "subject": "Charged twice",
            "body": "Billed twice.",
            "requester_email": "a@example.com",
            "external_id": 1,
        },
        source="api",
        actor="api-client",
    )[0]
    sim.state.faults.update({"rate_limit_next": 2, "retry_after": 0})
    await c.orchestrator.drain("w")
    steps = [s for s in run_view(c.db, run_id)["steps"] if s["kind"] == "tool_call"]
    first = steps[0]["data"]
    assert first["tool"] == "helpdesk__get_ticket" and not first["is_error"]
    assert [(r["attempt"], r["status"]) for r in first["retries"]] == [(1, 429), (2, 429)]
    assert all("retries" not in s["data"] for s in steps[1:])

    [desk] = list_connections(c.db)
    assert desk["retries_last_hour"] == 2
    assert "2 calls retried in the last hour (2 rate limited; last waited 0 s)" in desk["alerts"]
    await c.pool.aclose()


async def test_connections_test_says_it_retried(tmp_path: Path) -> None:
    sim = create_app()
    c = container(f"sqlite:///{tmp_path / 'c.db'}", tmp_path, None, sim)
    sim.state.faults.update({"rate_limit_next": 1, "retry_after": 0})
    result = await c.pool.test("helpdesk")
    assert result["health"] == "ok" and [r["status"] for r in result["retries"]] == [429]
    from app.cli.main import _retries_said

    assert _retries_said(result["retries"]) == " (after 1 retry: 429; waited 0 s)"
    await c.pool.aclose()
