"""A ShipStation shipment whose first POST lands after the retry's look-up is reported as made.

The action id goes in `external_shipment_id`, which ShipStation keeps unique ("must be unique. If
you provide a duplicate ID, you receive an error message"); a retry looks it up first. When the
first attempt's request reaches ShipStation only after that look-up (it timed out here but was
still on its way: the check-then-write window app/agent/lease.py names), the retry's own POST is
refused as a duplicate: that proves the write landed, and the connector returns the shipment as
deduplicated, as the tracker connector does when Linear refuses a second create of its id.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from connectors.base import ConnectorError, first_attempt
from connectors.http import ApiKeyAuth, build_client
from connectors.warehouse.client import WarehouseConnector
from connectors.warehouse.simulator import WarehouseState, create_app
from tests.connectors.conftest import FakeSleep, Sim, retry_policy
from tests.connectors.test_warehouse import ITEMS, KEY, SHIP_TO


class SlowFirstPost(httpx.AsyncBaseTransport):
    """The first POST /v2/shipments times out on this side while it is still on its way; it
    reaches ShipStation right after the retry's look-up has answered 404."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.in_flight: httpx.Request | None = None
        self.held_once = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path.endswith("/v2/shipments") and not self.held_once:
            self.held_once = True
            await request.aread()
            self.in_flight = httpx.Request(
                request.method, request.url, headers=request.headers, content=request.content
            )
            raise httpx.ReadTimeout("no answer in time", request=request)
        response = await self.inner.handle_async_request(request)
        if "/external_shipment_id/" in path and self.in_flight is not None:
            late, self.in_flight = self.in_flight, None
            landed = await self.inner.handle_async_request(late)
            await landed.aread()
            assert landed.status_code < 300, landed.text
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_shipment_that_landed_late_is_reported_made_not_failed(
    make_sim: Callable[..., Sim], fake_sleep: FakeSleep
) -> None:
    sim = make_sim(app=create_app(api_key=KEY))
    state: WarehouseState = sim.app.state.warehouse
    before = len(state.shipments)
    warehouse = WarehouseConnector(
        build_client(
            sim.url,
            auth=ApiKeyAuth(KEY, header="API-Key"),
            retry=retry_policy(fake_sleep),
            transport=SlowFirstPost(),
        )
    )
    key = "act-late-1"
    outcome: object = None
    try:
        with first_attempt():
            try:
                await warehouse.create_shipment("1005", SHIP_TO, ITEMS, idempotency_key=key)
            except ConnectorError as exc:
                assert exc.retryable  # stays executing; resumed with the same key
        try:
            outcome = await warehouse.create_shipment("1005", SHIP_TO, ITEMS, idempotency_key=key)
        except ConnectorError as exc:
            outcome = exc
    finally:
        await warehouse.aclose()

    ours = [s for s in state.shipments.values() if s["external_shipment_id"] == f"switchboard-{key}"]
    assert len(state.shipments) == before + 1 and len(ours) == 1  # one shipment exists: it landed
    assert isinstance(outcome, dict) and outcome.get("deduplicated") is True, (
        f"the shipment exists ({ours[0]['shipment_id']}) but the retry reported: {outcome!r}"
    )
