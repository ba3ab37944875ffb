"""What a newcomer meets in the running demo: the chat, the web UI and the webhook endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.newcomer._demo import serving_or_exited, start_demo, stop, wait_seeded
from tests.support.processes import free_port

pytestmark = pytest.mark.e2e

RAJ = "raj.patel@example.org"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    home = tmp_path_factory.mktemp("newcomer")
    port = free_port()
    proc = start_demo(home, port, home / ".switchboard" / "demo")
    try:
        assert serving_or_exited(proc, port), (home / f"demo-{port}.log").read_text()[-3000:]
        token = (home / ".switchboard" / "demo" / "admin-token").read_text().strip()
        wait_seeded(port, token)
        yield f"http://127.0.0.1:{port}", token
    finally:
        stop(proc)


def _turn(api: httpx.Client, message: str) -> tuple[str, str]:
    """The run id and the answer of one chat turn."""
    run_id, said = "", []
    with api.stream("POST", "/api/v1/chat", json={"message": message}) as r:
        assert r.status_code == 200, r.read()
        for block in r.read().decode().strip().split("\n\n"):
            lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            data = json.loads(lines.get("data", "{}"))
            if lines.get("event") == "conversation":
                run_id = data["run_id"]
            if lines.get("event") == "message":
                said.append(data["text"])
    return run_id, "\n".join(said)


def _shop_charge(base: str) -> dict:
    """Raj Patel's charge for his shop order, as the payments simulator (Stripe's API) shows it."""
    sim = httpx.Client(base_url=f"{base}/sim/payments/v1", timeout=10)
    customer = sim.get("/customers", params={"email": RAJ}).json()["data"][0]["id"]
    charges = sim.get("/charges", params={"customer": customer}).json()["data"]
    return next(c for c in charges if "order #" in str(c.get("description")))


@pytest.mark.parametrize("how", ["by its charge id", "as the assistant listed it"])
def test_a_refund_asked_for_in_chat_can_name_the_charge(demo: tuple[str, str], how: str) -> None:
    """README: the local model's chat handles "refund requests that become proposed writes".
    Asked to "Refund the last charge of raj.patel@example.org", it answers "I couldn't tell which
    of Raj Patel's charges to refund. Their charges: - Northwind Home order #1005: $218.00 ...".
    Naming that charge then, by its Stripe id (`ch_…`, which the listing shows) or as the
    assistant itself listed it ("Northwind Home order #1005"), proposes the refund of that
    charge for approval."""
    base, token = demo
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    charge = _shop_charge(base)
    _, listing = _turn(api, f"Refund the last charge of {RAJ}")
    assert charge["description"] in listing, listing
    named = charge["id"] if how == "by its charge id" else charge["description"]
    run_id, said = _turn(api, f"Refund {named} of {RAJ}")
    proposed = api.get("/api/v1/approvals", params={"run_id": run_id}).json()
    refunds = [a for a in proposed if a["operation"] == "create_refund"]
    assert [a["arguments"]["charge_id"] for a in refunds] == [charge["id"]], (
        f"asked to refund {named!r}, the chat said:\n{said}"
    )


def test_an_unknown_workflow_page_is_a_page(demo: tuple[str, str]) -> None:
    """CONTRACT: the web UI is pages; a 404 for an unknown id. `/ui/workflows/nosuch` (a stale
    bookmark, a mistyped link) answers an HTML error page inside the layout, as `/ui/runs/nosuch`
    and `/ui/queue/nosuch` do."""
    base, token = demo
    web = httpx.Client(base_url=base, timeout=10)
    signed_in = web.post("/ui/login", data={"token": token, "next": "/ui/queue"}, headers={"Origin": base})
    assert signed_in.status_code in (200, 303), signed_in.text
    run = web.get("/ui/runs/nosuch")
    wf = web.get("/ui/workflows/nosuch")
    assert run.status_code == 404 and run.headers["content-type"].startswith("text/html")
    assert wf.status_code == 404
    assert wf.headers["content-type"].startswith("text/html"), (wf.headers["content-type"], wf.text)


def test_a_webhook_without_a_secret_points_at_the_command_that_sets_one(demo: tuple[str, str]) -> None:
    """README: the secret a connection's webhooks are verified with is set with `switchboard
    connections secret NAME`. A delivery to a connection that has none (the demo's help desk)
    is refused naming that command: `switchboard connections secret helpdesk`."""
    base, _ = demo
    r = httpx.post(
        f"{base}/api/v1/webhooks/helpdesk",
        json={"type": "zen:event-type:ticket.created", "detail": {"id": "1"}},
        timeout=10,
    )
    assert r.status_code in (409, 422, 503), r.text
    assert "connections secret helpdesk" in r.text, r.text
