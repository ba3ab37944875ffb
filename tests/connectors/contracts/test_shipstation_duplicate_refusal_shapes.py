"""A retried ShipStation shipment refused as a duplicate of its own external id is found, whatever
words and shape the refusal comes in.

The connector puts the action id in `external_shipment_id`, which ShipStation keeps unique ("If you
provide a duplicate ID, you receive an error message": docs.shipstation.com, create-a-shipment; the
wording is not documented). POST /v2/shipments is a batch endpoint whose answer may carry
per-shipment `errors` with `has_errors`, on a 400 or a 200. Any refusal of a retried create leads
to a look-up of the external id (authoritative: only this action's key makes that id), and a
shipment found there is returned as deduplicated, not failed.
"""

from __future__ import annotations

import httpx
import pytest

from connectors.base import ConnectorError
from connectors.http import ApiKeyAuth
from connectors.warehouse.client import WarehouseConnector
from tests.connectors.contracts.recorder import Recorder, body, reply
from tests.connectors.test_warehouse import ITEMS, SHIP_TO

KEY = "act-dup-1"
EXTERNAL = f"switchboard-{KEY}"
LANDED = {"shipment_id": "se-1001", "external_shipment_id": EXTERNAL, "shipment_status": "pending"}


def per_shipment(status: int) -> httpx.Response:
    """The batch answer: the shipment echoed back with its own errors (strings), has_errors."""
    return reply(
        status,
        {
            "has_errors": True,
            "shipments": [
                {
                    "external_shipment_id": EXTERNAL,
                    "errors": ["A shipment with this external_shipment_id already exists"],
                }
            ],
        },
    )


def top_level_without_the_id() -> httpx.Response:
    """The usual error body, in words that do not repeat the id."""
    return reply(
        400,
        {
            "request_id": "0f1e",
            "errors": [
                {
                    "error_source": "shipstation",
                    "error_type": "validation",
                    "error_code": "invalid_field_value",
                    "message": "external_shipment_id must be unique",
                }
            ],
        },
    )


REFUSALS = {
    "400, per-shipment errors": lambda: per_shipment(400),
    "200, has_errors with per-shipment errors": lambda: per_shipment(200),
    "400, message without the id": top_level_without_the_id,
}


@pytest.mark.parametrize("refusal", list(REFUSALS))
async def test_duplicate_refusal_of_a_retried_shipment_reports_the_landed_shipment(refusal: str) -> None:
    """The retry's look-up misses (the first POST has not landed yet), its POST is refused as a
    duplicate (it has now): the retry returns the shipment, deduplicated, and never fails."""
    looked = {"n": 0}

    def shipstation(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path == f"/v2/shipments/external_shipment_id/{EXTERNAL}":
            looked["n"] += 1
            if looked["n"] == 1:
                return reply(404, {"errors": [{"message": "not found", "error_code": "not_found"}]})
            return reply(200, LANDED)
        if request.method == "POST" and path == "/v2/shipments":
            assert body(request)["shipments"][0]["external_shipment_id"] == EXTERNAL
            return REFUSALS[refusal]()
        return reply(404, {"errors": [{"message": f"unexpected {path}", "error_code": "not_found"}]})

    rec = Recorder(shipstation)
    warehouse = WarehouseConnector(
        rec.client("https://api.shipstation.com", auth=ApiKeyAuth("k", header="API-Key"))
    )
    try:
        # Outside first_attempt(): a resumed action, so the connector looks first.
        outcome: object = await warehouse.create_shipment(
            "1005", SHIP_TO, ITEMS, warehouse_id="se-wh-1", idempotency_key=KEY
        )
    except ConnectorError as exc:
        outcome = exc
    finally:
        await warehouse.aclose()
    assert isinstance(outcome, dict) and outcome.get("deduplicated") is True, (
        f"shipment {LANDED['shipment_id']} carries this action's external id, but the retry "
        f"reported: {outcome!r}"
    )
