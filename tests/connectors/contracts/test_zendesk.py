"""The help-desk client's requests against Zendesk's published API (see connectors/helpdesk/CONTRACT.md).

Answered by a `MockTransport` that does what Zendesk's documentation says, independently of
our simulator, so a client and simulator that agree on something wrong cannot both pass.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from connectors.helpdesk.client import HelpdeskConnector
from tests.connectors.contracts.recorder import Recorder, body, reply

BASE = "https://acme.zendesk.com"


class DocumentedZendesk:
    """Tickets > Setting metadata: whatever is sent as `ticket.metadata` is kept, as sent,
    in the audit's `metadata.custom`; Zendesk adds its own `metadata.system`.
    Ticket Audits > List Audits: `{"audits": [...], "next_page": null}`."""

    def __init__(self) -> None:
        self.audits: list[dict[str, Any]] = []
        self.ids = itertools.count(100)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path == "/api/v2/tickets/7/audits.json":
            audits = list(self.audits)  # oldest first: List Audits takes no sort_order
            return reply(
                200, {"audits": audits, "next_page": None, "previous_page": None, "count": len(audits)}
            )
        if request.method == "PUT" and path == "/api/v2/tickets/7.json":
            ticket = body(request)["ticket"]
            events = []
            if "comment" in ticket:
                events.append({"id": next(self.ids), "type": "Comment", **ticket["comment"]})
            audit = {
                "id": next(self.ids),
                "ticket_id": 7,
                "metadata": {"system": {"client": "test"}, "custom": ticket.get("metadata", {})},
                "events": events,
            }
            self.audits.append(audit)
            return reply(200, {"ticket": {"id": 7, "status": "open"}, "audit": audit})
        return reply(404, {"error": "InvalidEndpoint", "description": "Not found"})


async def test_action_key_is_sent_as_ticket_metadata_and_found_in_audit_custom() -> None:
    zendesk = DocumentedZendesk()
    rec = Recorder(zendesk)
    desk = HelpdeskConnector(rec.client(BASE))
    first = await desk.add_comment(7, "We refunded the duplicate charge.", idempotency_key="act-1")
    sent = body(rec.calls("PUT")[0])["ticket"]
    assert sent["metadata"] == {"switchboard_action_id": "act-1"}
    assert zendesk.audits[0]["metadata"]["custom"] == {"switchboard_action_id": "act-1"}
    # a retry of the same approved action finds the key and posts nothing
    again = await desk.add_comment(7, "We refunded the duplicate charge.", idempotency_key="act-1")
    assert len(rec.calls("PUT")) == 1
    assert again["deduplicated"] is True and again["comment_id"] == first["comment_id"]
    # the audits were read as Zendesk lists them (oldest first, no sort_order), by cursor
    params = rec.calls("GET")[0].url.params
    assert "sort_order" not in params and params["page[size]"] == "100"
    await desk.aclose()


async def test_update_ticket_retry_is_deduplicated_too() -> None:
    zendesk = DocumentedZendesk()
    rec = Recorder(zendesk)
    desk = HelpdeskConnector(rec.client(BASE))
    await desk.update_ticket(7, priority="high", idempotency_key="act-2")
    assert body(rec.calls("PUT")[0])["ticket"] == {
        "priority": "high",
        "metadata": {"switchboard_action_id": "act-2"},
    }
    await desk.aclose()
