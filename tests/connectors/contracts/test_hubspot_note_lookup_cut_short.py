"""A retried HubSpot note is never logged a second time because the look-up stopped early.

`add_note` is check-then-write: a retry lists the contact's notes through the v4 associations API
(pages of at most 500, followed by `paging.next.after`) and batch-reads each page's
`switchboard_action_id`, stopping when it finds its note. A contact with more notes than the scan
reads (MAX_PAGES pages) cannot rule out an earlier note: the write is refused for a person, as the
Slack connector refuses to post blind, never logged again.
"""

from __future__ import annotations

import httpx

from connectors.base import ConnectorError
from connectors.crm.client import ACTION_PROPERTY, CrmConnector
from connectors.http import BearerAuth
from tests.connectors.contracts.recorder import Recorder, body, reply

KEY = "act-many-notes-1"
CONTACT = "501"
PER_PAGE = 500
PAGES = 25  # 12,500 notes on the contact; the earlier attempt's note is on the last page
OURS = str(PAGES * PER_PAGE)  # the newest note id


def hubspot(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if request.method == "GET" and path == f"/crm/v4/objects/contacts/{CONTACT}/associations/notes":
        page = int(request.url.params.get("after") or 0)
        start = page * PER_PAGE + 1
        results = [
            {"toObjectId": n, "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 202}]}
            for n in range(start, start + PER_PAGE)
        ]
        data: dict = {"results": results}
        if page + 1 < PAGES:
            data["paging"] = {"next": {"after": str(page + 1), "link": "?after=" + str(page + 1)}}
        return reply(200, data)
    if request.method == "POST" and path == "/crm/v3/objects/notes/batch/read":
        ids = [i["id"] for i in body(request)["inputs"]]
        return reply(
            200,
            {
                "status": "COMPLETE",
                "results": [
                    {"id": i, "properties": {ACTION_PROPERTY: KEY if i == OURS else f"other-{i}"}}
                    for i in ids
                ],
            },
        )
    if request.method == "POST" and path == "/crm/v3/objects/notes":
        return reply(201, {"id": "99999999", "properties": body(request)["properties"]})
    return reply(404, {"status": "error", "message": f"unexpected {request.method} {path}"})


async def test_retry_on_a_contact_with_more_notes_than_the_scan_reads_does_not_log_the_note_again() -> None:
    """A retry either finds the earlier note or refuses to write (a person checks the contact);
    it never posts a second note when the association listing was cut off before its end."""
    rec = Recorder(hubspot)
    crm = CrmConnector(rec.client("https://api.hubapi.com", auth=BearerAuth("pat-x")))
    outcome: dict | None = None
    try:
        # Outside first_attempt(): a resumed action, so the connector looks first.
        outcome = await crm.add_note(CONTACT, "Refunded the duplicate charge.", idempotency_key=KEY)
    except ConnectorError:
        pass  # refusing to write blind is a correct outcome too
    finally:
        await crm.aclose()
    created = rec.calls("POST", "/crm/v3/objects/notes")
    listed = rec.calls("GET", f"/crm/v4/objects/contacts/{CONTACT}/associations/notes")
    assert not created, (
        f"the look-up read {len(listed)} of {PAGES} association pages, stopped with a `paging.next` "
        f"still to follow, and logged the note again (outcome {outcome})"
    )
    if outcome is not None:
        assert outcome == {"note_id": OURS, "contact_id": CONTACT, "deduplicated": True}
