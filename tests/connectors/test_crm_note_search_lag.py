"""A HubSpot note whose answer was lost is logged once, however soon the run retries.

HubSpot takes no idempotency key, so the connector is check-then-write: the note carries the
action id in `switchboard_action_id` and a retry looks for it first. HubSpot's search index lags
writes by seconds, and the commonest retry comes one backoff (about a second) after a lost answer,
so the look-up reads the contact's associated notes and batch-reads their marker, which show a
note as soon as it is made. The lag is modelled in a transport in front of the simulator: notes
created less than LAG seconds ago are left out of search results.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from app.agent.orchestrator import backoff
from connectors.base import ConnectorError, first_attempt
from connectors.crm.client import ACTION_PROPERTY, CrmConnector
from connectors.crm.simulator import CrmState, create_app
from connectors.http import BearerAuth, build_client
from connectors.simulator_base import SimulatorAuth
from tests.connectors.conftest import FakeSleep, Sim, retry_policy

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
LAG = 10.0  # seconds before a new object is searchable (conservative; often less, never zero)


class LaggingSearchIndex(httpx.AsyncBaseTransport):
    """HubSpot in front of the simulator: search leaves out notes created less than LAG seconds
    ago, and the first note POST lands but its answer is lost (read timeout)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.now = 0.0
        self.created_at: dict[str, float] = {}
        self.lose_next_note_answer = True

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        path = request.url.path
        if request.method == "POST" and path.endswith("/crm/v3/objects/notes"):
            body = json.loads(await response.aread())
            self.created_at[str(body.get("id"))] = self.now
            if self.lose_next_note_answer:
                self.lose_next_note_answer = False
                await response.aclose()
                raise httpx.ReadTimeout("the answer was lost", request=request)
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
            return httpx.Response(response.status_code, headers=headers, content=json.dumps(body))
        if request.method == "POST" and path.endswith("/crm/v3/objects/notes/search"):
            body = json.loads(await response.aread())
            indexed = [
                r
                for r in body.get("results") or []
                if self.now - self.created_at.get(str(r.get("id")), -1e9) >= LAG
            ]
            body = {**body, "results": indexed, "total": len(indexed)}
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
            return httpx.Response(response.status_code, headers=headers, content=json.dumps(body))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class _Top:
    def random(self) -> float:
        return 0.999999


async def test_note_retried_one_backoff_after_a_lost_answer_is_logged_once(
    make_sim: Callable[..., Sim], fake_sleep: FakeSleep
) -> None:
    sim = make_sim(app=create_app(auth=SimulatorAuth(bearer=frozenset({TOKEN}))))
    state: CrmState = sim.app.state.crm
    cid = str(state.find("contacts", "sam.okafor@example.com", "email")["id"])
    hubspot = LaggingSearchIndex()
    crm = CrmConnector(
        build_client(sim.url, auth=BearerAuth(TOKEN), retry=retry_policy(fake_sleep), transport=hubspot)
    )
    key = "act-lag-1"
    try:
        with first_attempt():
            try:
                await crm.add_note(cid, "Refunded the duplicate Plus charge.", idempotency_key=key)
            except ConnectorError as exc:
                assert exc.retryable  # _execute: Transient, the run is requeued with backoff(retries=0)
            else:
                raise AssertionError("the first attempt's answer was meant to be lost")
        # The orchestrator's first requeue delay, at its longest (jitter at the top).
        hubspot.now += backoff(0, rng=_Top())  # type: ignore[arg-type]
        assert hubspot.now < LAG
        again = await crm.add_note(cid, "Refunded the duplicate Plus charge.", idempotency_key=key)
    finally:
        await crm.aclose()

    notes: list[dict[str, Any]] = [
        n for n in state.objects["notes"].values() if n["properties"].get(ACTION_PROPERTY) == key
    ]
    assert len(notes) == 1, (
        f"one approved note was logged {len(notes)} times on contact {cid} "
        f"(retry said deduplicated={again.get('deduplicated')})"
    )
