"""A retried Zendesk comment never posts again while audits it has not read remain.

When a page of audits says `meta.has_more: true` but gives no `links.next` it will follow
(missing, or on a host other than the configured one), the scan goes on by `page[after]` =
`meta.after_cursor`, or refuses (ConnectorError): the reply is PUT once.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.base import ConnectorError, first_attempt
from connectors.helpdesk.client import HelpdeskConnector
from tests.connectors.contracts.recorder import Recorder, reply
from tests.connectors.test_zendesk_audit_lookup import BASE, TICKET, DocumentedZendesk


class NextLinkOff(DocumentedZendesk):
    """Cursor pages whose `has_more` is true but whose `links.next` is `how`."""

    def __init__(self, earlier: int, how: str) -> None:
        super().__init__(earlier)
        self.how = how

    def _audits_page(self, request: httpx.Request) -> httpx.Response:
        answer = super()._audits_page(request)
        data = answer.json()
        if (data.get("meta") or {}).get("has_more"):
            nxt = data["links"]["next"]
            data["links"]["next"] = (
                None if self.how == "missing" else nxt.replace(BASE, "https://acme-sandbox.zendesk.com")
            )
        return reply(answer.status_code, data)


@pytest.mark.parametrize("how", ["missing", "other-host"])
async def test_a_scan_that_cannot_reach_the_next_page_does_not_post_again(how: str) -> None:
    zendesk = NextLinkOff(earlier=150, how=how)  # the first attempt's audit lands on page two
    rec = Recorder(zendesk)
    desk = HelpdeskConnector(rec.client(BASE))
    text = "We refunded the duplicate charge; it shows on your statement in 5-10 days."
    with first_attempt():
        await desk.add_comment(TICKET, text, idempotency_key="act-1")
    again: dict[str, Any] | None
    try:
        again = await desk.add_comment(TICKET, text, idempotency_key="act-1")
    except ConnectorError:
        again = None  # refusing to post blind is exactly-once too
    puts = rec.calls("PUT")
    await desk.aclose()
    assert len(puts) == 1, (
        f"the public reply was PUT {len(puts)} times: page one said has_more with links.next {how}, "
        f"and the look-up ({len(rec.calls('GET'))} GET) took that for 'no earlier attempt'"
    )
    if again is not None:
        assert again["deduplicated"] is True
