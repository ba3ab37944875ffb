"""The demo server end to end, driven through its HTTP API like a user would."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.processes import demo_process, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with demo_process(tmp_path_factory.mktemp("demo"), seeded_timeout=90) as running:
        yield running.base, running.token


def test_ticket_to_reply_exactly_once(demo: tuple[str, str]) -> None:
    base, token = demo
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    sim = httpx.Client(base_url=f"{base}/sim/helpdesk/api/v2", timeout=30)

    # a customer writes to the help desk
    created = sim.post(
        "/tickets.json",
        json={
            "ticket": {
                "subject": "Where is my order?",
                "comment": {
                    "body": "My package was supposed to arrive last week and tracking shows nothing. Order 4417."
                },
                "requester": {"name": "Ann Lee", "email": "ann.lee@example.com"},
            }
        },
    )
    assert created.status_code == 201, created.text
    ticket_id = created.json()["ticket"]["id"]
    before = len(sim.get(f"/tickets/{ticket_id}/comments.json").json()["comments"])

    r = api.post(
        "/api/v1/tickets",
        json={
            "subject": "Where is my order?",
            "body": "My package was supposed to arrive last week and tracking shows nothing. Order 4417.",
            "requester_email": "ann.lee@example.com",
            "external_id": ticket_id,
        },
    )
    assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]

    run = wait_for(
        "waiting_approval",
        lambda: (
            (v := api.get(f"/api/v1/runs/{run_id}").json())["status"] in ("waiting_approval", "failed") and v
        ),
    )
    assert run["status"] == "waiting_approval", run.get("error")
    assert run["classification"]["category"] == "shipping"
    assert run["classification"]["needs_review"] is False
    assert run["draft"]["body"]
    pending = [a for a in run["actions"] if a["status"] == "pending"]
    assert pending
    reply = next(a for a in pending if a["operation"] == "add_comment")
    assert reply["arguments"]["ticket_id"] == ticket_id

    assert api.post(f"/api/v1/approvals/{reply['id']}/approve").status_code == 200
    for other in pending:
        if other["id"] != reply["id"]:
            assert api.post(f"/api/v1/approvals/{other['id']}/approve").status_code == 200
    assert api.post(f"/api/v1/approvals/{reply['id']}/approve").status_code == 409

    done = wait_for(
        "the run to finish",
        lambda: (v := api.get(f"/api/v1/runs/{run_id}").json())["status"] in ("succeeded", "failed") and v,
    )
    assert done["status"] == "succeeded", done.get("error")
    comments = sim.get(f"/tickets/{ticket_id}/comments.json").json()["comments"]
    bodies = [c["body"] for c in comments]
    assert len(comments) == before + 1
    assert bodies.count(reply["arguments"]["body"]) == 1
    assert comments[-1]["public"] is True  # a confident classification gets a public reply
    assert reply["arguments"]["body"].startswith("Hi Ann")


def test_demo_seeds_the_queue_and_metrics(demo: tuple[str, str]) -> None:
    base, token = demo
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    seeded = wait_for("seeded approvals", lambda: api.get("/api/v1/approvals").json(), timeout=60)
    assert all(a["status"] == "pending" for a in seeded)
    assert "switchboard_runs" in httpx.get(f"{base}/metrics").text
    names = {row["name"] for row in api.get("/api/v1/connections").json()}
    assert names == {
        "helpdesk",
        "payments",
        "crm",
        "chat",
        "tracker",
        "erp",
        "petstore",
        "inventory",
        "shop",
        "warehouse",
    }
    for name in sorted(names):  # every shipped system answers on the demo's own port
        r = api.post(f"/api/v1/connections/{name}/test")
        assert r.status_code == 200 and r.json()["health"] == "ok", (name, r.json())


DISPUTE_SENTENCE = "When a dispute opens in payments, open a ticket and post in #billing"


def test_a_dispute_opened_in_payments_runs_the_active_workflow(demo: tuple[str, str]) -> None:
    """The headline workflow end to end: the payments simulator delivers its signed
    `charge.dispute.created` to the demo itself, which starts the active workflow's run."""
    base, token = demo
    admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    made = admin.post("/api/v1/tokens", json={"name": "second-approver", "role": "approver"})
    assert made.status_code == 201, made.text
    approver = httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {made.json()['token']}"}, timeout=60
    )

    r = admin.post("/api/v1/workflows", json={"request": DISPUTE_SENTENCE})
    assert r.status_code == 201, r.text
    draft = r.json()
    assert draft["problems"] == [] and draft["spec"]["trigger"] == {
        "connection": "payments",
        "event": "charge.dispute.created",
    }
    r = approver.post(f"/api/v1/workflows/{draft['id']}/activate")
    assert r.status_code == 200 and r.json()["status"] == "active", r.text

    # the card issuer opens a dispute: Stripe sends the event, signed, to the demo's webhook
    emitted = httpx.post(f"{base}/sim/payments/_emit/dispute_created", json={}, timeout=60)
    assert emitted.status_code == 200, emitted.text
    event, delivery = emitted.json()["event"], emitted.json()["delivery"]
    assert delivery == {
        "event": event["id"],
        "type": "charge.dispute.created",
        "url": f"{base}/api/v1/webhooks/payments",
        "status": 202,
    }
    dispute = event["data"]["object"]["id"]

    [listed] = wait_for(
        "the workflow's run",
        lambda: admin.get(f"/api/v1/workflows/{draft['id']}").json()["last_runs"],
        timeout=30,
    )
    run = wait_for(
        "the run to propose its first write",
        lambda: (
            (v := admin.get(f"/api/v1/runs/{listed['id']}").json())["status"]
            in ("waiting_approval", "failed", "succeeded")
            and v
        ),
    )
    assert run["status"] == "waiting_approval", run.get("error")
    assert run["kind"] == "workflow" and run["input"]["event"]["event"]["id"] == dispute
    [ticket] = [a for a in run["actions"] if a["status"] == "pending"]
    assert ticket["connection"] == "helpdesk" and ticket["operation"] == "create_ticket"
    assert dispute in str(ticket["arguments"])
