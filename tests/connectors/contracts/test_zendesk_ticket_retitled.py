"""A resumed create_ticket whose ticket an agent has retitled since is that ticket, not a failure.

Zendesk (Ticketing API introduction, "Idempotency"): within two hours the same Idempotency-Key
and body replay the first answer, whatever happened to the ticket since. Agents retitle new
tickets as they triage them (Update Ticket `subject`); the ticket with the action's external id
is the action's, whatever its subject now.
"""

from __future__ import annotations

from connectors.helpdesk.client import HelpdeskConnector
from tests.connectors.contracts.recorder import Recorder
from tests.connectors.contracts.test_zendesk_idempotency_expiry import BASE, NEW_TICKET, DocumentedZendesk


async def test_a_resumed_create_ticket_whose_ticket_an_agent_retitled_is_not_a_failure() -> None:
    zendesk = DocumentedZendesk()
    rec = Recorder(zendesk)
    desk = HelpdeskConnector(rec.client(BASE))
    args = dict(NEW_TICKET)
    await desk.create_ticket(**args)  # landed; the run never got the answer
    # An agent triages the new ticket and retitles it (PUT /api/v2/tickets/{id}.json {"subject"}).
    zendesk.tickets[0]["subject"] = "[Billing] Double charge #1005"
    zendesk.tickets[0]["raw_subject"] = "[Billing] Double charge #1005"
    zendesk.now += 600  # resumed ten minutes later: Zendesk still holds the key
    try:
        again = await desk.create_ticket(**args)
    finally:
        await desk.aclose()
    assert len(zendesk.tickets) == 1
    assert again["ticket_id"] == zendesk.tickets[0]["id"] and again["deduplicated"] is True
