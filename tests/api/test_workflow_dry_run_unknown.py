"""A dry run never shows what the real run would not do. It stands for each write's result with
`NotWritten`; a template or check that asks a question of that result (true or false, equal
to) has no answer before the write is made, so the dry run stops there and says why, instead
of branching one way in the dry run and the other in the real run."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.api.app import create_app
from tests.api.test_workflow_sentences import DISPUTE
from tests.support.systems import Systems, systems

BRANCH = "{{ '#billing' if not steps.0.result else '#orders' }}"
TEXT = "{{ 'Dispute noted.' if not steps.0.result else 'Refund ' ~ event.charge ~ ' in full now, no questions.' }}"


@pytest.fixture
async def world(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[Systems, httpx.AsyncClient, Any]]:
    with systems(db_url, tmp_path) as sy:
        people = sy.tokens(("olivia", "operator"), ("adam", "approver"), ("root", "admin"))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(sy.c)), base_url="http://sb"
        ) as api:
            yield sy, api, people
        await sy.c.pool.aclose()


async def test_a_step_that_branches_on_a_writes_result_is_not_guessed_by_the_dry_run(world: Any) -> None:
    sy, api, people = world
    r = await api.post("/api/v1/workflows", json={"request": DISPUTE}, headers=people["olivia"])
    assert r.status_code == 201, r.text
    base = r.json()
    spec = {
        "name": "Disputes to #billing",
        "trigger": base["spec"]["trigger"],  # payments, charge.dispute.created
        "steps": [
            {"tool": "chat__post_message", "arguments": {"channel": "#billing", "text": "A dispute opened."}},
            {"tool": "chat__post_message", "arguments": {"channel": BRANCH, "text": TEXT}},
        ],
    }
    r = await api.post(
        f"/api/v1/workflows/{base['id']}/versions", json={"spec": spec}, headers=people["olivia"]
    )
    assert r.status_code == 201, r.text
    v2 = r.json()
    assert v2["problems"] == [], v2["problems"]

    # the activator tries it on the event it will meet
    body, _ = sy.dispute("ch_dry", "dp_dry")
    event = json.loads(body)["data"]["object"]
    r = await api.post(f"/api/v1/workflows/{v2['id']}/dry-run", json={"event": event}, headers=people["adam"])
    assert r.status_code == 200, r.text
    shown = r.json()
    assert [s["arguments"]["text"] for s in shown["steps"]] == ["A dispute opened."]  # only what it knows
    assert "result of step0 is known only once that write is made" in shown["outcome"]["unknown"]
