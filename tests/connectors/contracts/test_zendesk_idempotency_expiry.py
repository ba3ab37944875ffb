"""Zendesk keeps a ticket-creation Idempotency-Key for two hours only.

Vendor: developer.zendesk.com/api-reference/ticketing/introduction/#idempotency
("Idempotency-Key" on POST /api/v2/tickets.json, `x-idempotency-lookup: hit|miss`; a reused key
with another body is a 400 `IdempotentRequestError`); List Tickets takes `external_id`. After
the two hours a POST with the same key creates a new ticket, so `create_ticket` also names its
ticket by an external id made of the key and, when the action may have run before, looks for it
first. The simulator forgets keys after two hours as Zendesk does.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from connectors.helpdesk.client import HelpdeskConnector
from tests.connectors.contracts.recorder import Recorder, body, reply

BASE = "https://acme.zendesk.com"
KEY_TTL = 2 * 3600
# An approved create_ticket, with its action key.
NEW_TICKET = {
    "subject": "Double charge on order #1005",
    "body": "I was charged twice.",
    "requester_email": "dana@example.com",
    "idempotency_key": "act-42",
}  # Zendesk: idempotency keys are kept for two hours


class DocumentedZendesk:
    """Ticket creation with Zendesk's two-hour idempotency window, plus the reads a client
    could use to find its own earlier ticket: List Tickets by `external_id`, Search
    (`type:ticket`, `external_id:`, `requester:`), Show User/search users, List Audits."""

    def __init__(self) -> None:
        self.now = 1_760_000_000.0
        self.keys: dict[str, tuple[float, bytes, dict[str, Any]]] = {}
        self.tickets: list[dict[str, Any]] = []
        self.audits: dict[int, list[dict[str, Any]]] = {}
        self.ids = itertools.count(1000)
        self.requesters: dict[int, str] = {}

    def _create(self, ticket: dict[str, Any]) -> dict[str, Any]:
        tid = next(self.ids)
        created = {
            "id": tid,
            "subject": ticket.get("subject"),
            "status": "new",
            "external_id": ticket.get("external_id"),
            "requester_id": 77,
            "tags": ticket.get("tags") or [],
            "priority": ticket.get("priority"),
        }
        self.requesters[tid] = str((ticket.get("requester") or {}).get("email") or "").lower()
        self.tickets.append(created)
        audit = {
            "id": next(self.ids),
            "ticket_id": tid,
            "metadata": {"system": {"client": "test"}, "custom": ticket.get("metadata") or {}},
            "events": [{"id": next(self.ids), "type": "Comment", "body": ticket["comment"]["body"]}],
        }
        self.audits[tid] = [audit]
        return {"ticket": created, "audit": audit}

    def _search(self, query: str) -> list[dict[str, Any]]:
        found = list(self.tickets)
        for term in query.split():
            name, _, value = term.partition(":")
            if name == "external_id":
                found = [t for t in found if t.get("external_id") == value]
            elif name == "requester":
                found = [t for t in found if self.requesters.get(t["id"]) == value.lower()]
        return [{**t, "result_type": "ticket"} for t in found]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        if method == "POST" and path == "/api/v2/tickets.json":
            key = request.headers.get("idempotency-key")
            if key:
                earlier = self.keys.get(key)
                if earlier is not None and self.now - earlier[0] < KEY_TTL:
                    if earlier[1] != request.content:
                        return reply(
                            400,
                            {
                                "error": "IdempotentRequestError",
                                "description": "Request parameters don't match the given idempotency key",
                            },
                        )
                    return reply(201, earlier[2], **{"x-idempotency-lookup": "hit"})
            created = self._create(body(request)["ticket"])
            if key:
                self.keys[key] = (self.now, request.content, created)
            return reply(201, created, **{"x-idempotency-lookup": "miss"})
        if method == "GET" and path == "/api/v2/tickets.json":
            ext = request.url.params.get("external_id")
            tickets = [t for t in self.tickets if ext is None or t.get("external_id") == ext]
            return reply(200, {"tickets": tickets, "next_page": None, "count": len(tickets)})
        if method == "GET" and path == "/api/v2/search.json":
            results = self._search(request.url.params.get("query", ""))
            return reply(200, {"results": results, "next_page": None, "count": len(results)})
        if method == "GET" and path in ("/api/v2/users/search.json", "/api/v2/users/77.json"):
            user = {"id": 77, "email": "dana@example.com", "name": "Dana"}
            return reply(200, {"users": [user]} if "search" in path else {"user": user})
        if method == "GET" and path.endswith("/audits.json"):
            tid = int(path.split("/")[4])
            return reply(200, {"audits": self.audits.get(tid, []), "next_page": None})
        return reply(404, {"error": "InvalidEndpoint", "description": "Not found"})


async def test_create_ticket_retried_after_zendesk_forgot_the_key_opens_no_second_ticket() -> None:
    """Vendor: Zendesk Ticketing API introduction, "Idempotency" (keys kept 2 hours).
    An approved create_ticket whose first attempt landed (the answer was lost) is resumed
    three hours later with the same action key: it must not open a second ticket."""
    zendesk = DocumentedZendesk()
    rec = Recorder(zendesk)
    desk = HelpdeskConnector(rec.client(BASE))
    args = dict(NEW_TICKET)
    first = await desk.create_ticket(**args)
    zendesk.now += 3 * 3600  # the action is resumed after Zendesk pruned the key
    again = await desk.create_ticket(**args)
    assert len(zendesk.tickets) == 1, (
        f"Zendesk now holds {len(zendesk.tickets)} tickets for one approved action: the key "
        "expired after 2 h and create_ticket had no other way to find its first ticket"
    )
    assert again["ticket_id"] == first["ticket_id"]
    assert again["deduplicated"] is True
    await desk.aclose()


def test_helpdesk_simulator_forgets_ticket_idempotency_keys_after_two_hours() -> None:
    """Vendor: Zendesk Ticketing API introduction, "Idempotency" (keys kept 2 hours).
    The simulator must be as forgetful as Zendesk, or it hides a client that relies on the
    header for longer (the payments simulator already prunes Stripe's keys after 24 h)."""
    from datetime import UTC, datetime, timedelta

    from connectors.helpdesk import seed as seed_data
    from connectors.helpdesk.simulator import HelpdeskState

    now = [datetime(2026, 1, 5, 9, 0, tzinfo=UTC)]
    state = HelpdeskState(clock=lambda: now[0])
    seed_data.seed(state)
    payload = {
        "subject": "Double charge",
        "comment": {"body": "I was charged twice."},
        "requester": {"email": "dana@example.com", "name": "Dana"},
    }
    first, hit = state.create_ticket_idempotent("act-42", payload, author_id=None)
    assert hit is False
    now[0] += timedelta(hours=3)
    second, hit = state.create_ticket_idempotent("act-42", payload, author_id=None)
    assert hit is False and second["ticket"]["id"] != first["ticket"]["id"], (
        "the simulator replayed a 3-hour-old Idempotency-Key; Zendesk keeps keys for 2 hours"
    )
