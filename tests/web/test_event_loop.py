"""No route blocks the event loop: database work of the API's and UI's `async def` routes (and the
edge's sign-in) runs in worker threads, and the local model's CPU work runs off the loop.

A blocking call inside `async def` stalls every other request of the process: 600 forged webhooks
raised /healthz from 19 ms to about a second. The probe below records every database session
opened on the event loop's own thread. The run loop (app/agent) is left out: its store calls are
the worker's, not a route's.
"""

from __future__ import annotations

import asyncio
import json
import time
import traceback
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.llm.base import ModelRequest
from app.llm.local import LocalModel
from app.services.connections import add_connection
from app.store.db import Database
from connectors.payments import webhooks as stripe
from tests.web.conftest import ORIGIN, Ui

SECRET = "whsec_loop"


def _on_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@pytest.fixture
def on_loop(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Where a request's database session was opened on the event loop thread (its last app frames)."""
    found: list[str] = []
    original = Database.session

    def probe(self: Database) -> AbstractContextManager[Session]:
        if _on_loop():
            stack = [f for f in traceback.extract_stack() if "/app/" in f.filename]
            serving = any("/app/api/" in f.filename or "/app/web/" in f.filename for f in stack)
            if serving and not any("/app/agent/" in f.filename for f in stack):
                found.append(" <- ".join(f"{f.filename.split('/app/')[-1]}:{f.lineno}" for f in stack[-3:]))
        return original(self)

    monkeypatch.setattr(Database, "session", probe)
    yield found


async def test_async_routes_do_their_database_work_off_the_loop(ui: Ui, on_loop: list[str]) -> None:
    add_connection(
        ui.c.db,
        ui.c.box,
        name="payments",
        kind="payments",
        base_url="http://payments.sim",
        auth_type="bearer",
        credentials={"token": "t", "webhook_secret": SECRET},
    )
    on_loop.clear()
    # the run waits for approval, so its event stream ends at once
    async with ui.client.stream("GET", f"/api/v1/runs/{ui.run_id}/events", headers=ui.bearer("viewer")) as s:
        assert s.status_code == 200
        text = "".join([chunk async for chunk in s.aiter_text()])
    assert "event: done" in text
    body = json.dumps(
        {"id": "evt_9", "type": "charge.dispute.created", "data": {"object": {"id": "dp_9", "amount": 100}}}
    ).encode()
    sig = {"Stripe-Signature": stripe.sign(body, SECRET, int(time.time()))}
    r = await ui.client.post("/api/v1/webhooks/payments", content=body, headers=sig)
    assert r.status_code == 202
    forged = {"Stripe-Signature": f"t={int(time.time())},v1={'0' * 64}"}
    assert (
        await ui.client.post("/api/v1/webhooks/payments", content=body, headers=forged)
    ).status_code == 401

    r = await ui.client.post("/ui/login", data={"token": ui.tokens["admin"]}, headers={"Origin": ORIGIN})
    assert r.status_code == 303
    reply, update = sorted(ui.pending(), key=lambda a: a["tool"])
    htmx = {"HX-Request": "true"}
    r = await ui.post(
        f"/ui/queue/{reply['id']}/reject", role="approver", data={"reason": "tone"}, headers=htmx
    )
    assert r.status_code == 200
    r = await ui.post("/ui/queue/bulk", role="approver", data={"ids": [update["id"]], "decision": "approve"})
    assert r.status_code in (200, 303)
    r = await ui.post(f"/ui/runs/{ui.run_id}/classification", role="approver", data={"category": "billing"})
    assert r.status_code == 303
    r = await ui.post(f"/ui/runs/{ui.run_id}/again", role="operator")
    assert r.status_code == 409  # it did not fail; asked on a worker thread all the same
    r = await ui.post("/ui/tokens", role="admin", data={"name": "bot", "role": "viewer"})
    assert r.status_code == 201
    r = await ui.post("/ui/connections/helpdesk/test", role="operator", headers=htmx)
    assert r.status_code == 200
    r = await ui.post("/ui/tokens", role="viewer", data={"name": "x", "role": "viewer"})
    assert r.status_code == 403
    r = await ui.client.post("/api/v1/connections/helpdesk/test", headers=ui.bearer("operator"))
    assert r.status_code == 200
    assert on_loop == [], "database sessions opened on the event loop:\n" + "\n".join(on_loop)


async def test_the_local_model_does_its_cpu_work_off_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.llm.local import engine

    seen: list[bool] = []

    def spy(name: str, fn: Any) -> Any:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            seen.append(_on_loop())
            return fn(*args, **kwargs)

        monkeypatch.setattr(engine.finance, name, wrapped)

    spy("classify", engine.finance.classify)
    spy("draft", engine.finance.draft)
    model = LocalModel()
    record = {"kind": "invoice", "amount": "10.00", "currency": "EUR", "counterparty": "Fabrikam"}
    for prompt in ("finance/classify@v1", "finance/draft@v1"):
        request = ModelRequest(
            system="", messages=[], prompt=prompt, variables={"record": record, "accounts": []}
        )
        await model.complete(request)
    assert seen == [False, False]
