"""A retried Zendesk comment must find its first attempt's audit however many audits the ticket
has, or refuse to post blind.

Vendor: Zendesk's own OpenAPI description of "List Audits for a Ticket"
(GET /api/v2/tickets/{ticket_id}/audits; developer.zendesk.com/api-reference/ticketing/tickets/
ticket_audits/#list-audits-for-a-ticket, reproduced in the SDK generated from it,
botbrains-io/python-zendesk docs/sdks/ticketaudits/README.md, `list_audits_for_ticket`) takes
`ticket_id`, `page[before]`, `page[after]` and `page[size]` and nothing else: no `sort_order`.
Audits come in the order they were made, oldest first, "a maximum of 100 records per page",
with cursor pagination recommended and offset pagination (`next_page`) also served; offset
pagination is refused with 400 past the first 10,000 records
(developer.zendesk.com/documentation/api-basics/pagination/paginating-through-lists).

A retry reads the audits as the endpoint lists them, by cursor, page by page to the end, and
finds its first attempt's audit however many audits the ticket has; past its page limit it
refuses to post blind. The simulator lists audits oldest first whatever `sort_order` says.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx

from connectors.base import ConnectorError, first_attempt
from connectors.helpdesk.client import HelpdeskConnector
from tests.connectors.contracts.recorder import Recorder, body, reply

BASE = "https://acme.zendesk.com"
TICKET = 7
PER_PAGE = 100


class DocumentedZendesk:
    """Audits oldest first (no documented sort), offset or cursor pagination of 100."""

    def __init__(self, earlier: int) -> None:
        # A long-running ticket: triggers, automations and side conversations made `earlier`
        # audits before Switchboard's first attempt.
        self.audits: list[dict[str, Any]] = [
            {
                "id": 10_000 + i,
                "ticket_id": TICKET,
                "metadata": {"system": {"client": "trigger"}, "custom": {}},
                "events": [{"id": 50_000 + i, "type": "Change", "field_name": "tags"}],
            }
            for i in range(earlier)
        ]
        self.next_id = 90_000

    def _audits_page(self, request: httpx.Request) -> httpx.Response:
        p = request.url.params
        url = f"{BASE}/api/v2/tickets/{TICKET}/audits.json"
        if "page[size]" in p:  # cursor pagination
            size = min(int(p["page[size]"]), 100)
            start = int(p.get("page[after]") or 0)
            page = self.audits[start : start + size]
            more = start + size < len(self.audits)
            after = str(start + size) if more else None
            nxt = f"{url}?{urlencode({'page[size]': size, 'page[after]': after})}" if more else None
            return reply(
                200,
                {
                    "audits": page,
                    "meta": {"has_more": more, "after_cursor": after, "before_cursor": str(start)},
                    "links": {"next": nxt, "prev": None},
                },
            )
        page_no = int(p.get("page") or 1)
        per_page = min(int(p.get("per_page") or PER_PAGE), 100)
        if page_no * per_page > 10_000:
            return reply(400, {"error": "InvalidPaginationParameter", "description": "use cursor pagination"})
        start = (page_no - 1) * per_page
        page = self.audits[start : start + per_page]
        more = start + per_page < len(self.audits)
        nxt = f"{url}?{urlencode({'page': page_no + 1, 'per_page': per_page})}" if more else None
        return reply(
            200, {"audits": page, "next_page": nxt, "previous_page": None, "count": len(self.audits)}
        )

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removesuffix(".json")
        if request.method == "GET" and path == f"/api/v2/tickets/{TICKET}/audits":
            return self._audits_page(request)
        if request.method == "PUT" and path == f"/api/v2/tickets/{TICKET}":
            ticket = body(request)["ticket"]
            self.next_id += 2
            audit = {
                "id": self.next_id,
                "ticket_id": TICKET,
                "metadata": {"system": {"client": "switchboard"}, "custom": ticket.get("metadata", {})},
                "events": [{"id": self.next_id + 1, "type": "Comment", **ticket.get("comment", {})}],
            }
            self.audits.append(audit)
            return reply(200, {"ticket": {"id": TICKET, "status": "open"}, "audit": audit})
        return reply(404, {"error": "InvalidEndpoint", "description": "Not found"})


async def test_retried_comment_on_a_ticket_with_many_audits_is_not_posted_twice() -> None:
    zendesk = DocumentedZendesk(earlier=2_050)
    rec = Recorder(zendesk)
    desk = HelpdeskConnector(rec.client(BASE))
    text = "We refunded the duplicate charge; it shows on your statement in 5-10 days."
    with first_attempt():  # as the run makes a write never tried before: no look-up
        first = await desk.add_comment(TICKET, text, idempotency_key="act-1")
    assert first["deduplicated"] is False and not rec.calls("GET")

    # The first attempt's answer was lost: the run retries the same action with its key.
    again: dict[str, Any] | None
    try:
        again = await desk.add_comment(TICKET, text, idempotency_key="act-1")
    except ConnectorError:
        again = None  # refusing to write blind (a person checks) is also exactly-once
    puts = rec.calls("PUT")
    await desk.aclose()
    assert len(puts) == 1, (
        f"the same public reply was PUT {len(puts)} times: the audit look-up read "
        f"{len(rec.calls('GET'))} pages of a ticket with {len(zendesk.audits)} audits, oldest first, "
        "and took a scan cut short for 'not found'"
    )
    if again is not None:
        assert again["deduplicated"] is True and again["comment_id"] == first["comment_id"]


def test_helpdesk_simulator_lists_audits_oldest_first_whatever_sort_order_says(helpdesk_sim: Any) -> None:
    """The simulator must not honour a sort the endpoint does not document (see the module
    docstring: List Audits for a Ticket takes only page[before], page[after] and page[size]),
    or it hides a client whose look-up relies on newest-first audits."""
    ticket_id = helpdesk_sim.get("/api/v2/tickets.json")["tickets"][0]["id"]
    for text in ("first update", "second update"):
        response = helpdesk_sim.http.put(
            f"/api/v2/tickets/{ticket_id}.json",
            json={"ticket": {"comment": {"body": text, "public": False}}},
        )
        response.raise_for_status()
    asc = helpdesk_sim.get(f"/api/v2/tickets/{ticket_id}/audits.json")["audits"]
    desc = helpdesk_sim.get(f"/api/v2/tickets/{ticket_id}/audits.json?sort_order=desc")["audits"]
    assert [a["id"] for a in desc] == [a["id"] for a in asc], (
        "the simulator reversed the audits for sort_order=desc, which Zendesk does not document"
    )
