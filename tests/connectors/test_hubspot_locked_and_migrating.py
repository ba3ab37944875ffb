"""HubSpot's documented transient statuses come back as retryable errors.

developers.hubspot.com/docs/api-reference/error-handling, "Common error responses": 423 Locked
is returned while a portal syncs a large volume of data ("Locks will last for 2 seconds"), and
477 Migration in Progress while an account moves between data hosting locations, with a
Retry-After header. Neither says the request was wrong: the same request succeeds later, so the
connector reports them as retryable, not as permanent failures; a 400 stays permanent.
"""

from __future__ import annotations

import httpx
import pytest

from connectors.crm.client import CrmConnector, HubSpotError
from tests.connectors.contracts.recorder import Recorder, reply

BASE = "https://api.hubapi.com"


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (423, {}),
        (477, {"Retry-After": "3600"}),
    ],
)
async def test_a_locked_or_migrating_portal_is_a_retryable_error(
    status: int, headers: dict[str, str]
) -> None:
    def hubspot(request: httpx.Request) -> httpx.Response:
        return reply(
            status,
            {
                "status": "error",
                "message": "The portal is temporarily locked" if status == 423 else "Migration in progress",
                "correlationId": "3d1f6d3a-6c5b-4b8e-9a3e-0d2f6a7c1b9e",
            },
            **headers,
        )

    crm = CrmConnector(Recorder(hubspot).client(BASE))
    with pytest.raises(HubSpotError) as raised:
        await crm.find_contact("ada@example.com")
    await crm.aclose()
    assert raised.value.status == status
    assert raised.value.retryable, f"HubSpot's documented transient {status} was reported as permanent"


async def test_a_bad_request_stays_a_permanent_error() -> None:
    crm = CrmConnector(
        Recorder(lambda r: reply(400, {"status": "error", "message": "bad filter"})).client(BASE)
    )
    with pytest.raises(HubSpotError) as raised:
        await crm.find_contact("ada@example.com")
    await crm.aclose()
    assert raised.value.status == 400 and not raised.value.retryable
