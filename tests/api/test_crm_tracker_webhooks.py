"""POST /api/v1/webhooks/{connection} for HubSpot (crm) and Linear (tracker): deliveries signed by
their simulators exactly as the vendors sign them are accepted, start the workflows they
trigger once (a redelivery starts nothing new), and forged, edited, stale or unsigned ones
are refused with 401. HubSpot signs the URL it called, so behind SWITCHBOARD_PUBLIC_URL
that URL, not the server's own view, is what counts."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.api.app import create_app
from app.main import Container
from app.store.tables import Run, Workflow
from connectors.crm import simulator as crm_sim
from connectors.crm import webhooks as hubspot
from connectors.tracker import simulator as tracker_sim
from connectors.tracker import webhooks as linear
from tests.support.app import container, webhook_connections

CRM_SECRET = "hubspot-client-secret-test"
LINEAR_SECRET = "lin_wh_test_secret"
PUBLIC = "https://switchboard.example/sb"


@dataclass
class World:
    c: Container
    api: httpx.AsyncClient  # Switchboard, as the vendors reach it
    crm: FastAPI
    tracker: FastAPI
    url: str  # the URL the vendors call for connection NAME: url.format(name)

    def sim(self, app: FastAPI) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim")

    def workflow_runs(self) -> int:
        with self.c.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(Run).where(Run.kind == "workflow")) or 0)

    def activate(self, connection: str, event: str) -> None:
        spec = {"name": f"on {event}", "trigger": {"connection": connection, "event": event}, "steps": []}
        with self.c.db.session() as s:
            s.add(
                Workflow(
                    name=spec["name"],
                    request=f"when {event}",
                    spec=spec,
                    status="active",
                    trigger_connection=connection,
                    trigger_event=event,
                )
            )
            s.commit()


async def _world(db_url: str, tmp_path: Path, **settings: str) -> AsyncIterator[World]:
    c = container(db_url, tmp_path, **settings)
    webhook_connections(c, {"crm": CRM_SECRET, "tracker": LINEAR_SECRET})
    app = create_app(c)
    base = settings.get("SWITCHBOARD_PUBLIC_URL", "http://sb")
    url = base + "/api/v1/webhooks/{}"
    crm, tracker = crm_sim.create_app(), tracker_sim.create_app()
    for sim_state, name, secret in (
        (crm.state.crm, "crm", CRM_SECRET),
        (tracker.state.tracker, "tracker", LINEAR_SECRET),
    ):
        sim_state.webhooks.configure({"url": url.format(name), "secret": secret})
        # the vendor's request lands on Switchboard in-process, whatever host it names
        # (behind the proxy: the path prefix the proxy strips)
        sim_state.webhooks.transport = httpx.ASGITransport(app=app, root_path=urlsplit(base).path)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sb") as api:
        yield World(c, api, crm, tracker, url)
    await c.pool.aclose()


@pytest.fixture
async def world(db_url: str, tmp_path: Path) -> AsyncIterator[World]:
    async for w in _world(db_url, tmp_path):
        yield w


@pytest.fixture
async def proxied(db_url: str, tmp_path: Path) -> AsyncIterator[World]:
    async for w in _world(db_url, tmp_path, SWITCHBOARD_PUBLIC_URL=PUBLIC):
        yield w


def _contact_created(event_id: int = 1) -> bytes:
    """A one-event HubSpot delivery: contact 4 created, in portal 3's subscription 2."""
    event = {"eventId": event_id, "subscriptionId": 2, "portalId": 3, "objectId": 4}
    return json.dumps([{**event, "subscriptionType": "contact.creation"}]).encode()


def _deal(w: World) -> str:
    return next(iter(w.crm.state.crm.objects["deals"]))


async def test_a_hubspot_batch_starts_each_events_workflows_once(world: World) -> None:
    w = world
    w.activate("crm", "deal.propertyChange")
    deal, contact = _deal(w), next(iter(w.crm.state.crm.objects["contacts"]))
    events = [
        {"subscriptionType": "contact.creation", "objectId": contact},
        {
            "subscriptionType": "deal.propertyChange",
            "objectId": deal,
            "propertyName": "dealstage",
            "propertyValue": "closedwon",
        },
        {
            "subscriptionType": "deal.propertyChange",
            "objectId": deal,
            "propertyName": "amount",
            "propertyValue": "950",
        },
    ]
    async with w.sim(w.crm) as sim:
        r = await sim.post("/_events", json={"events": events})
        assert r.status_code == 200, r.text
        [delivery] = r.json()["deliveries"]  # one signed delivery carrying the three events
        assert delivery == {"delivery": 0, "attempt": 1, "events": 3, "status": 202}
        assert w.workflow_runs() == 2  # two property changes, one workflow each
        # the change happened in the portal, as the event says
        assert w.crm.state.crm.objects["deals"][deal]["properties"]["dealstage"] == "closedwon"
        again = (await sim.post("/_webhook/redeliver", json={})).json()
        assert again == {"delivery": 0, "attempt": 2, "events": 3, "status": 202}
        assert w.workflow_runs() == 2  # a retry (attemptNumber 1, newly signed) starts nothing new


async def test_the_answer_lists_every_event_of_a_batch(world: World) -> None:
    w = world
    w.activate("crm", "deal.creation")
    batch = [
        {
            "eventId": 11,
            "subscriptionId": 5,
            "portalId": 9,
            "objectId": 1,
            "subscriptionType": "deal.creation",
        },
        {
            "eventId": 12,
            "subscriptionId": 6,
            "portalId": 9,
            "objectId": 2,
            "subscriptionType": "contact.deletion",
        },
    ]
    body = json.dumps(batch).encode()
    url = w.url.format("crm")
    sent = hubspot.signed_headers(CRM_SECRET, "POST", url, body, int(time.time() * 1000))
    r = await w.api.post("/api/v1/webhooks/crm", content=body, headers=sent)
    assert r.status_code == 202, r.text
    answer = r.json()
    assert answer["accepted"] is True and answer["event"] == "deal.creation" and answer["run_id"] is None
    assert [(e["event"], e["id"].rsplit(":", 1)[0]) for e in answer["events"]] == [
        ("deal.creation", "9:5:11"),  # portal, subscription and event id, then a digest of the rest
        ("contact.deletion", "9:6:12"),
    ]
    assert (
        len(answer["workflow_runs"]) == 1 and answer["events"][0]["workflow_runs"] == answer["workflow_runs"]
    )


async def test_forged_edited_stale_and_unsigned_hubspot_deliveries_are_refused(world: World) -> None:
    w = world
    body = _contact_created()
    url, now = w.url.format("crm"), int(time.time() * 1000)
    cases = [
        (body, hubspot.signed_headers("not the client secret", "POST", url, body, now), "does not match"),
        (
            body.replace(b'"objectId": 4', b'"objectId": 5'),
            hubspot.signed_headers(CRM_SECRET, "POST", url, body, now),
            "does not match",
        ),
        (body, hubspot.signed_headers(CRM_SECRET, "POST", url, body, now - 6 * 60 * 1000), "old"),
        (body, {"X-HubSpot-Request-Timestamp": str(now)}, "no X-HubSpot-Signature-v3"),
        (
            body,
            {"X-HubSpot-Signature-v3": hubspot.sign(CRM_SECRET, "POST", url, body, str(now))},
            "no X-HubSpot-Request-Timestamp",
        ),
    ]
    for content, headers, message in cases:
        r = await w.api.post("/api/v1/webhooks/crm", content=content, headers=headers)
        assert r.status_code == 401 and message in r.json()["error"], (message, r.text)
    assert w.workflow_runs() == 0


async def test_behind_a_proxy_the_public_url_is_the_one_checked(proxied: World) -> None:
    w = proxied
    body = _contact_created()
    now = int(time.time() * 1000)
    public = f"{PUBLIC}/api/v1/webhooks/crm?source=hubspot"
    r = await w.api.post(
        "/api/v1/webhooks/crm?source=hubspot",
        content=body,
        headers=hubspot.signed_headers(CRM_SECRET, "POST", public, body, now),
    )
    assert r.status_code == 202, r.text
    # signed for the URL this server sees (http://sb/...), which HubSpot never called
    seen = "http://sb/api/v1/webhooks/crm"
    r = await w.api.post(
        "/api/v1/webhooks/crm",
        content=body,
        headers=hubspot.signed_headers(CRM_SECRET, "POST", seen, body, now),
    )
    assert r.status_code == 401 and f"checked against {PUBLIC}/api/v1/webhooks/crm" in r.json()["error"]
    # the simulator calls the public URL and signs it, as HubSpot would
    async with w.sim(w.crm) as sim:
        r = await sim.post(
            "/_events", json={"events": [{"subscriptionType": "deal.deletion", "objectId": _deal(w)}]}
        )
    assert r.json()["deliveries"][0]["status"] == 202


CREATE_ISSUE = """
mutation($input: IssueCreateInput!) { issueCreate(input: $input) { success issue { id identifier } } }
"""


async def test_a_linear_issue_created_through_the_api_reaches_its_workflow_once(world: World) -> None:
    w = world
    w.activate("tracker", "Issue.create")
    team = next(iter(w.tracker.state.tracker.teams))
    async with w.sim(w.tracker) as sim:
        r = await sim.post(
            "/graphql",
            json={"query": CREATE_ISSUE, "variables": {"input": {"teamId": team, "title": "Checkout 500s"}}},
            headers={"Authorization": "lin_api_test"},
        )
        assert r.json()["data"]["issueCreate"]["success"] is True
        hooks = (await sim.get("/_webhook")).json()
        assert hooks["deliveries"] == [{"delivery": 0, "attempt": 1, "events": 1, "status": 202}]
        assert w.workflow_runs() == 1
        again = (await sim.post("/_webhook/redeliver", json={"delivery": 0})).json()
        assert again["status"] == 202 and w.workflow_runs() == 1  # the same event, newly stamped: nothing new
    with w.c.db.session() as s:
        run = s.scalars(select(Run).where(Run.kind == "workflow")).one()
        event: dict[str, Any] = run.input["event"]["event"]
    assert event["type"] == "Issue" and event["data"]["title"] == "Checkout 500s"


async def test_forged_edited_stale_and_unsigned_linear_deliveries_are_refused(world: World) -> None:
    w = world
    now = int(time.time() * 1000)
    payload = {
        "action": "create",
        "type": "Comment",
        "createdAt": "2026-09-21T10:00:00.000Z",
        "organizationId": "org",
        "webhookId": "wh",
        "data": {"id": "c1", "body": "hello"},
        "url": "https://linear.app/x/issue/ENG-1#comment-c1",
        "webhookTimestamp": now,
    }
    body = json.dumps(payload).encode()
    stale = json.dumps({**payload, "webhookTimestamp": now - 120_000}).encode()
    cases = [
        (body, linear.signed_headers(body, "not the secret", event="Comment"), "does not match"),
        (
            body.replace(b"hello", b"HELLO"),
            linear.signed_headers(body, LINEAR_SECRET, event="Comment"),
            "does not match",
        ),
        (stale, linear.signed_headers(stale, LINEAR_SECRET, event="Comment"), "s old"),
        (body, {"Linear-Event": "Comment", "Linear-Delivery": "d"}, "no Linear-Signature"),
    ]
    for content, headers, message in cases:
        r = await w.api.post("/api/v1/webhooks/tracker", content=content, headers=headers)
        assert r.status_code == 401 and message in r.json()["error"], (message, r.text)
    r = await w.api.post(
        "/api/v1/webhooks/tracker",
        content=body,
        headers=linear.signed_headers(body, LINEAR_SECRET, event="Comment"),
    )
    assert r.status_code == 202 and r.json()["event"] == "Comment.create"
    bad = json.dumps({**payload, "data": {"body": "no id"}}).encode()
    r = await w.api.post(
        "/api/v1/webhooks/tracker",
        content=bad,
        headers=linear.signed_headers(bad, LINEAR_SECRET, event="Comment"),
    )
    assert r.status_code == 422 and "data.id" in r.json()["error"]


def test_the_vendor_url_is_the_public_one_when_configured() -> None:
    from app.services.webhooks import vendor_url

    seen = "http://10.0.0.5:8000/api/v1/webhooks/crm?a=1"
    assert vendor_url(None, seen) == seen
    assert vendor_url("https://sb.example/", seen) == "https://sb.example/api/v1/webhooks/crm?a=1"
    mounted = "http://10.0.0.5:8000/sb/api/v1/webhooks/crm"
    assert vendor_url("https://sb.example/sb", mounted, "/sb") == "https://sb.example/sb/api/v1/webhooks/crm"


async def test_the_signed_url_is_the_path_as_sent_not_as_decoded(world: World) -> None:
    """HubSpot signs the URI it called, decoding only the encodings it lists; `%63` is not one
    of them. The path is checked as it arrived, so a vendor whose target URL carries such an
    encoding is not refused for it (nor is one signed over the decoded path accepted)."""
    w = world
    body = _contact_created(event_id=9)
    now = int(time.time() * 1000)
    as_sent = "http://sb/api/v1/webhooks/%63rm"
    good = hubspot.signed_headers(CRM_SECRET, "POST", as_sent, body, now)
    r = await w.api.post("/api/v1/webhooks/%63rm", content=body, headers=good)
    assert r.status_code == 202, r.text
    decoded = hubspot.signed_headers(CRM_SECRET, "POST", "http://sb/api/v1/webhooks/crm", body, now)
    r = await w.api.post("/api/v1/webhooks/%63rm", content=body, headers=decoded)
    assert r.status_code == 401 and "does not match" in r.json()["error"]
