"""The CRM client's requests against HubSpot's CRM v3 API (see connectors/crm/CONTRACT.md)."""

from __future__ import annotations

import httpx

from connectors.crm.client import CrmConnector
from tests.connectors.contracts.recorder import Recorder, body, reply

BASE = "https://api.hubapi.com"


def hubspot(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/crm/v4/objects/contacts/101/associations/deals":
        return reply(200, {"results": [{"toObjectId": 12001, "associationTypes": []}]})
    if request.url.path == "/crm/v3/objects/deals/batch/read":
        return reply(
            200, {"status": "COMPLETE", "results": [{"id": "12001", "properties": {"dealname": "x"}}]}
        )
    return reply(404, {"status": "error", "message": "not found", "category": "OBJECT_NOT_FOUND"})


async def test_batch_read_sends_every_required_field() -> None:
    """hubspot-api-python, `hubspot/crm/objects/models/batch_read_input_simple_public_object_id.py`:
    `inputs`, `properties` and `propertiesWithHistory` are required; `idProperty` is optional."""
    rec = Recorder(hubspot)
    crm = CrmConnector(rec.client(BASE))
    deals = await crm.list_deals("101")
    assert [d["id"] for d in deals] == ["12001"]
    sent = body(rec.calls("POST", "/crm/v3/objects/deals/batch/read")[0])
    assert set(sent) <= {"inputs", "properties", "propertiesWithHistory", "idProperty"}
    assert isinstance(sent["properties"], list) and sent["propertiesWithHistory"] == []
    assert sent["inputs"] == [{"id": "12001"}]
    await crm.aclose()
