"""The shop connector against its Shopify simulator over real loopback HTTP, its requests
checked against Shopify's Admin REST definitions (see connectors/shop/CONTRACT.md), and
the webhook signature scheme (X-Shopify-Hmac-Sha256)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from connectors.base import ConnectorError
from connectors.http import ApiKeyAuth, build_client
from connectors.shop import webhooks
from connectors.shop.client import ShopConnector
from connectors.shop.simulator import ShopState, create_app
from tests.connectors.conftest import FakeSleep, Sim, retry_policy
from tools.from_connector import tools_for

TOKEN = "shpat_0123456789abcdef0123456789abcdef"
HEADER = {"X-Shopify-Access-Token": TOKEN}


@pytest.fixture
def shop_sim(make_sim: Callable[..., Sim]) -> Sim:
    return make_sim(app=create_app(access_token=TOKEN))


def state_of(sim: Sim) -> ShopState:
    state: ShopState = sim.app.state.shop
    return state


def connector(url: str, sleep: FakeSleep, token: str = TOKEN) -> ShopConnector:
    auth = ApiKeyAuth(token, header="X-Shopify-Access-Token")
    return ShopConnector(build_client(url, auth=auth, retry=retry_policy(sleep), timeout=5.0))


@pytest.fixture
async def shop(shop_sim: Sim, fake_sleep: FakeSleep) -> AsyncIterator[ShopConnector]:
    c = connector(shop_sim.url, fake_sleep)
    yield c
    await c.aclose()


async def test_reads_orders_payments_customers_products(shop: ShopConnector) -> None:
    assert (await shop.check())["shop"] == "northwind-home.myshopify.com"
    paid = await shop.list_orders(financial_status="paid")
    assert [o["name"] for o in paid] == ["#1001", "#1002", "#1003", "#1004", "#1005"]
    waiting = await shop.list_orders(fulfillment_status="unfulfilled")
    assert [o["name"] for o in waiting] == ["#1005", "#1006"]
    order = await shop.get_order(paid[-1]["id"])
    assert order["email"] == "raj.patel@example.org"
    assert [(li["sku"], li["quantity"]) for li in order["line_items"]] == [
        ("NW-BLND-129", 1),
        ("NW-CURT-LIN", 1),
    ]
    assert order["total_price"] == "218.00" and order["shipping_address"]["province_code"] == "CA"
    payment = await shop.get_order_payment(order["id"])
    assert payment == {
        "order_id": order["id"],
        "paid": True,
        "gateway": "stripe",
        "kind": "sale",
        "amount": "218.00",
        "currency": "USD",
        "refunded": "0",
        "voided": False,
        "payment_reference": "ch_3Nw49001RajBlend",
    }
    authorized = (await shop.list_orders(financial_status="authorized"))[0]
    assert (await shop.get_order_payment(authorized["id"]))["paid"] is False
    customer = await shop.find_customer("ann.lee@example.com")
    assert customer is not None and customer["orders_count"] == 2
    assert await shop.find_customer("nobody@example.com") is None
    skus = {p["variants"][0]["sku"] for p in await shop.list_products()}
    assert {"NW-BLND-129", "NW-DESK-STD", "NW-KTL-STL"} <= skus


async def test_fulfilling_closes_the_fulfillment_order_and_a_retry_does_not_ship_twice(
    shop: ShopConnector, shop_sim: Sim
) -> None:
    order = (await shop.list_orders(financial_status="paid", fulfillment_status="unfulfilled"))[0]
    first = await shop.fulfill_order(
        order["id"], tracking_number="1Z999AA10000000001", tracking_company="UPS", idempotency_key="act_1"
    )
    assert first["deduplicated"] is False and first["fulfillment"]["tracking_number"] == "1Z999AA10000000001"
    again = await shop.fulfill_order(
        order["id"], tracking_number="1Z999AA10000000001", idempotency_key="act_1"
    )
    assert again["deduplicated"] is True and again["fulfillment"]["id"] == first["fulfillment"]["id"]
    after = shop_sim.http.get(f"/admin/api/2024-10/orders/{order['id']}.json", headers=HEADER).json()["order"]
    assert (
        after["fulfillment_status"] == "fulfilled" and after["fulfillments"][0]["tracking_company"] == "UPS"
    )
    assert len(state_of(shop_sim).fulfillments[order["id"]]) == 1
    assert state_of(shop_sim).orders[order["id"]]["fulfillment_status"] == "fulfilled"
    with pytest.raises(ConnectorError, match="nothing left to fulfil"):
        await shop.fulfill_order(order["id"])


async def test_errors_in_shopifys_shape(shop_sim: Sim, fake_sleep: FakeSleep) -> None:
    bad = connector(shop_sim.url, fake_sleep, token="shpat_wrong")
    with pytest.raises(ConnectorError, match=r"401.*Invalid API key or access token"):
        await bad.get_order(1)
    await bad.aclose()
    good = connector(shop_sim.url, fake_sleep)
    with pytest.raises(ConnectorError, match="404: Not Found") as exc:
        await good.get_order(999)
    assert exc.value.status == 404 and not exc.value.retryable
    r = shop_sim.http.post(
        "/admin/api/2024-10/fulfillments.json",
        json={
            "fulfillment": {"line_items_by_fulfillment_order": [{"fulfillment_order_id": 1}], "shipped": True}
        },
        headers=HEADER,
    )
    assert r.status_code == 422 and r.json() == {"errors": {"shipped": ["is not a permitted parameter"]}}
    assert shop_sim.http.get("/admin/api/1999-01/shop.json", headers=HEADER).status_code == 404
    await good.aclose()


async def test_429_with_retry_after_is_retried(
    shop: ShopConnector, shop_sim: Sim, fake_sleep: FakeSleep
) -> None:
    shop_sim.faults(rate_limit_next=1, retry_after=2)
    assert (await shop.check())["ok"]
    assert fake_sleep.delays == [2.0]
    r = shop_sim.http.get("/admin/api/2024-10/shop.json", headers=HEADER)
    assert r.headers["X-Shopify-Shop-Api-Call-Limit"].endswith("/40")


async def test_requests_have_shopifys_shape() -> None:
    """Against Shopify's REST reference: versioned paths, the token header, the fulfillment
    body keyed by `fulfillment` with `line_items_by_fulfillment_order` and `tracking_info`."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if path.endswith("/fulfillment_orders.json"):
            return httpx.Response(200, json={"fulfillment_orders": [{"id": 77, "status": "open"}]})
        if path.endswith("/fulfillments.json"):
            return httpx.Response(201, json={"fulfillment": {"id": 5}})
        return httpx.Response(200, json={"transactions": []})

    client = httpx.AsyncClient(
        transport=httpx.MockTransport(handler),
        base_url="https://northwind-home.myshopify.com",
        auth=ApiKeyAuth(TOKEN, header="X-Shopify-Access-Token"),
    )
    shop = ShopConnector(client, {"api_version": "2025-01"})
    await shop.fulfill_order(450789469, tracking_number="1Z1", tracking_company="UPS", notify_customer=True)
    get_fos, post = seen
    assert get_fos.url.path == "/admin/api/2025-01/orders/450789469/fulfillment_orders.json"
    assert post.method == "POST" and post.url.path == "/admin/api/2025-01/fulfillments.json"
    assert post.headers["X-Shopify-Access-Token"] == TOKEN
    assert json.loads(post.content) == {
        "fulfillment": {
            "line_items_by_fulfillment_order": [{"fulfillment_order_id": 77}],
            "notify_customer": True,
            "tracking_info": {"number": "1Z1", "company": "UPS"},
        }
    }
    await shop.aclose()


def test_webhook_signature_is_base64_hmac_of_the_raw_body() -> None:
    body = b'{"id":820982911946154508,"email":"jon@example.com"}'
    headers = webhooks.signed_headers(
        body, "hush", "orders/paid", event_id="98880550", shop_domain="x.myshopify.com", api_version="2024-10"
    )
    # base64, not hex: 44 characters for a SHA-256 digest
    assert len(headers["X-Shopify-Hmac-Sha256"]) == 44
    event = webhooks.verify(body, headers, "hush")
    assert (event.topic, event.data["id"]) == ("orders/paid", 820982911946154508)
    # known by its signed body: the unsigned event-id header cannot make a replay look new
    assert event.event_id == "sha256:" + hashlib.sha256(body).hexdigest()
    replay = {**headers, "X-Shopify-Event-Id": "99999999", "X-Shopify-Webhook-Id": "wh-new"}
    assert webhooks.verify(body, replay, "hush").event_id == event.event_id
    with pytest.raises(webhooks.SignatureError, match="does not match"):
        webhooks.verify(body.replace(b"jon", b"eve"), headers, "hush")
    with pytest.raises(webhooks.SignatureError, match="does not match"):
        webhooks.verify(body, headers, "other-secret")
    with pytest.raises(webhooks.SignatureError, match="no X-Shopify-Hmac-Sha256"):
        webhooks.verify(body, {"X-Shopify-Topic": "orders/paid"}, "hush")


async def test_checkout_sends_signed_webhooks(make_sim: Callable[..., Sim]) -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    async def receiver(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        received.append(({k.decode(): v.decode() for k, v in scope["headers"]}, body))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    hook = make_sim(app=receiver)
    sim = make_sim(
        app=create_app(access_token=TOKEN, webhook_url=hook.url + "/hook", webhook_secret="s3cr3t")
    )
    r = sim.http.post(
        "/_orders",
        json={
            "email": "dana.whitfield@example.com",
            "line_items": [{"sku": "NW-LAMP-BRS", "quantity": 2}],
            "payment_reference": "ch_1",
        },
    )
    assert r.status_code == 200, r.text
    assert [d["topic"] for d in r.json()["deliveries"]] == ["orders/create", "orders/paid"]
    topics = []
    for headers, body in received:
        event = webhooks.verify(body, headers, "s3cr3t")
        topics.append(event.topic)
        assert event.data["total_price"] == "318.00"
    assert topics == ["orders/create", "orders/paid"]
    bad = sim.http.post(
        "/_orders",
        json={"email": "dana.whitfield@example.com", "line_items": [{"sku": "NOPE", "quantity": 1}]},
    )
    assert bad.status_code == 422 and "NOPE" in bad.text


def test_tools_declare_the_fulfilment_final_and_public_when_notifying() -> None:
    tools = {t.operation: t for t in tools_for("shop", ShopConnector(httpx.AsyncClient()))}
    fulfil = tools["fulfill_order"]
    assert fulfil.is_write and fulfil.does.reversible is False and fulfil.does.is_final({})
    assert fulfil.does.is_public_message({"notify_customer": True})
    assert not fulfil.does.is_public_message({"notify_customer": False})
    assert not tools["get_order"].is_write
