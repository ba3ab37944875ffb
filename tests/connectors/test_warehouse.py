"""The warehouse connector against its ShipStation (API v2) simulator over real loopback
HTTP, its requests checked against ShipStation's definitions (connectors/warehouse/
CONTRACT.md), and the RSA-SHA256 webhook signatures checked with the published key set."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors.base import ConnectorError
from connectors.http import ApiKeyAuth, build_client
from connectors.warehouse import webhooks
from connectors.warehouse.client import WarehouseConnector
from connectors.warehouse.simulator import WarehouseState, create_app
from tests.connectors.conftest import FakeSleep, Sim, retry_policy

KEY = "TEST_ss_v2_0123456789"
SHIP_TO = {
    "name": "Raj Patel",
    "address_line1": "88 E Santa Clara St",
    "city_locality": "San Jose",
    "state_province": "CA",
    "postal_code": "95112",
    "country_code": "US",
}
ITEMS = [{"sku": "NW-BLND-129", "name": "Blender", "quantity": 1}]


@pytest.fixture
def sim(make_sim: Callable[..., Sim]) -> Sim:
    return make_sim(app=create_app(api_key=KEY))


def state_of(sim: Sim) -> WarehouseState:
    state: WarehouseState = sim.app.state.warehouse
    return state


def connector(url: str, sleep: FakeSleep, key: str = KEY) -> WarehouseConnector:
    return WarehouseConnector(
        build_client(url, auth=ApiKeyAuth(key, header="API-Key"), retry=retry_policy(sleep), timeout=5.0)
    )


@pytest.fixture
async def warehouse(sim: Sim, fake_sleep: FakeSleep) -> AsyncIterator[WarehouseConnector]:
    c = connector(sim.url, fake_sleep)
    yield c
    await c.aclose()


async def test_create_ship_track_and_cancel(warehouse: WarehouseConnector, sim: Sim) -> None:
    houses = await warehouse.list_warehouses()
    assert [h["name"] for h in houses] == ["Columbus DC", "Reno DC"]
    made = await warehouse.create_shipment("1005", SHIP_TO, ITEMS, idempotency_key="act_9")
    shipment = made["shipment"]
    assert made["deduplicated"] is False and shipment["shipment_status"] == "pending"
    assert (
        shipment["warehouse_id"] == houses[0]["warehouse_id"]
        and shipment["external_shipment_id"] == "switchboard-act_9"
    )
    again = await warehouse.create_shipment("1005", SHIP_TO, ITEMS, idempotency_key="act_9")
    assert again["deduplicated"] is True and again["shipment"]["shipment_id"] == shipment["shipment_id"]
    assert sum(s["shipment_number"] == "1005" for s in state_of(sim).shipments.values()) == 1

    label = await warehouse.buy_label(shipment["shipment_id"])
    assert label["tracking_number"].startswith("1Z")
    assert (await warehouse.buy_label(shipment["shipment_id"]))["label_id"] == label[
        "label_id"
    ]  # not bought twice
    tracking = await warehouse.get_tracking(label["label_id"])
    assert tracking["status_code"] == "AC" and tracking["tracking_number"] == label["tracking_number"]
    with pytest.raises(ConnectorError, match="void the label"):
        await warehouse.cancel_shipment(shipment["shipment_id"])

    other = (await warehouse.create_shipment("1006", SHIP_TO, ITEMS))["shipment"]
    assert (await warehouse.cancel_shipment(other["shipment_id"]))["deduplicated"] is False
    assert (await warehouse.cancel_shipment(other["shipment_id"]))["deduplicated"] is True
    assert (await warehouse.get_shipment(other["shipment_id"]))["shipment_status"] == "cancelled"


async def test_errors_in_shipstations_shape(sim: Sim, fake_sleep: FakeSleep) -> None:
    bad = connector(sim.url, fake_sleep, key="wrong")
    with pytest.raises(ConnectorError, match=r"401.*API key is invalid.*unauthorized"):
        await bad.list_warehouses()
    await bad.aclose()
    good = connector(sim.url, fake_sleep)
    with pytest.raises(ConnectorError, match=r"404.*se-1 was not found") as exc:
        await good.get_shipment("se-1")
    assert not exc.value.retryable
    r = sim.http.post(
        "/v2/shipments",
        json={"shipments": [{"ship_to": {**SHIP_TO, "city_locality": ""}}]},
        headers={"API-Key": KEY},
    )
    body = r.json()
    assert r.status_code == 400 and set(body) == {"request_id", "errors"}
    assert body["errors"][0] == {
        "error_source": "shipstation",
        "error_type": "validation",
        "error_code": "field_value_required",
        "message": "ship_to.city_locality is required",
    }
    sim.faults(fail_next=1, status=503)
    assert len(await good.list_warehouses()) == 2  # retried after the 503
    await good.aclose()


async def test_requests_have_shipstations_shape() -> None:
    """Against ShipStation v2's reference: `API-Key` header, POST /v2/shipments with a
    `shipments` array, `external_shipment_id` looked up before writing."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if "external_shipment_id" in request.url.path:
            return httpx.Response(
                404, json={"request_id": "r", "errors": [{"message": "not found", "error_code": "not_found"}]}
            )
        return httpx.Response(
            200, json={"has_errors": False, "shipments": [{"shipment_id": "se-1", "errors": []}]}
        )

    client = httpx.AsyncClient(
        transport=httpx.MockTransport(handler),
        base_url="https://api.shipstation.com",
        auth=ApiKeyAuth(KEY, header="API-Key"),
    )
    wh = WarehouseConnector(client)
    await wh.create_shipment("1005", SHIP_TO, ITEMS, warehouse_id="se-731501", idempotency_key="a1")
    lookup, post = seen
    assert lookup.url.path == "/v2/shipments/external_shipment_id/switchboard-a1"
    assert post.method == "POST" and post.url.path == "/v2/shipments" and post.headers["API-Key"] == KEY
    assert json.loads(post.content) == {
        "shipments": [
            {
                "external_shipment_id": "switchboard-a1",
                "shipment_number": "1005",
                "warehouse_id": "se-731501",
                "service_code": "ups_ground",
                "ship_to": SHIP_TO,
                "items": ITEMS,
            }
        ]
    }
    await wh.aclose()


def test_webhooks_are_verified_with_the_published_key(sim: Sim) -> None:
    state = state_of(sim)
    key_set = json.dumps(sim.http.get("/jwks").json())
    label_id = next(iter(state.labels))
    state.advance_tracking(label_id, "DE")
    [(body, headers)] = state.take_outbox()
    event = webhooks.verify(body, headers, key_set)
    assert event["resource_type"] == "API_TRACK" and event["data"]["status_code"] == "DE"
    with pytest.raises(webhooks.SignatureError, match="does not match"):
        webhooks.verify(body.replace(b'"DE"', b'"EX"'), headers, key_set)
    other = create_app(seed=False).state.warehouse
    with pytest.raises(webhooks.SignatureError, match="no public key"):
        webhooks.verify(body, headers, json.dumps(other.jwks()))
    old = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    stale = webhooks.sign(body, state.key, state.kid, old)
    with pytest.raises(webhooks.SignatureError, match="replay"):
        webhooks.verify(body, stale, key_set)
    with pytest.raises(webhooks.SignatureError, match="missing"):
        webhooks.verify(body, {}, key_set)


def test_tracking_control_endpoint_delivers_signed_webhooks(make_sim: Callable[..., Sim]) -> None:
    received: list[Any] = []

    async def receiver(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        received.append(({k.decode(): v.decode() for k, v in scope["headers"]}, message.get("body", b"")))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    hook = make_sim(app=receiver)
    sim = make_sim(app=create_app(api_key=KEY, webhook_url=hook.url + "/hook"))
    label_id = next(iter(state_of(sim).labels))
    assert (
        sim.http.post(f"/_track/{label_id}", json={"status_code": "DE"}).json()["status_description"]
        == "Delivered"
    )
    [(headers, body)] = received
    assert (
        webhooks.verify(body, headers, json.dumps(sim.http.get("/jwks").json()))["data"]["label_id"]
        == label_id
    )
