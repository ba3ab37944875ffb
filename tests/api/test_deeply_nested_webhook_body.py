"""A body nested too deep to read is a 400 naming the problem, never a 500.

A body of a few kilobytes nested thousands of levels deep makes `json.loads` raise
RecursionError, which is not the ValueError the readers caught: the edge's own check of every
JSON body answered 500 (a webhook's vendor would send it again for days, and no sign-in is needed
to send one), as did a webhook's parser behind it. Request bodies may nest 128 levels
(app.text.MAX_JSON_DEPTH: an OpenAPI document sent inline nests far less); deeper is refused
before any route, and a webhook's parsers, reached without the edge, refuse what they cannot
read as a 422 themselves. Nothing is started.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from app.api.app import create_app
from app.store.tables import Run
from connectors.payments import webhooks as stripe
from connectors.shop import webhooks as shop
from tests.support.app import container, webhook_connections

SECRET = "whsec_deep"
DEPTH = 5000


def deep(prefix: str, suffix: str) -> bytes:
    return (prefix + "[" * DEPTH + "]" * DEPTH + suffix).encode()


def stripe_delivery() -> tuple[bytes, dict[str, str]]:
    body = deep(
        '{"id":"evt_deep","type":"charge.dispute.created","data":{"object":{"id":"dp_deep",'
        '"amount":100,"currency":"usd","charge":"ch_1","metadata":',
        "}}}",
    )
    return body, {"Stripe-Signature": stripe.sign(body, SECRET, int(time.time()))}


def shop_delivery() -> tuple[bytes, dict[str, str]]:
    body = deep('{"id":1,"financial_status":"paid","line_items":', "}")
    headers = shop.signed_headers(
        body, SECRET, "orders/create", event_id="1", shop_domain="x.myshopify.com", api_version="2024-10"
    )
    return body, headers


@pytest.mark.parametrize(("kind", "delivery"), [("payments", stripe_delivery), ("shop", shop_delivery)])
async def test_a_signed_body_nested_too_deep_is_refused(
    db_url: str, tmp_path: Path, kind: str, delivery: object
) -> None:
    c = container(db_url, tmp_path)
    webhook_connections(c, {kind: SECRET})
    body, headers = delivery()  # type: ignore[operator]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(c), raise_app_exceptions=False), base_url="http://sb"
    ) as api:
        r = await api.post(f"/api/v1/webhooks/{kind}", content=body, headers=headers)
    await c.pool.aclose()
    assert r.status_code == 400, r.text[:300]
    assert "nests its values more than 128 levels deep" in r.json()["error"]
    with c.db.session() as s:
        assert s.query(Run).count() == 0


@pytest.mark.parametrize("depth", [129, 5000])
async def test_any_request_body_nested_past_the_limit_is_a_400(
    db_url: str, tmp_path: Path, depth: int
) -> None:
    c = container(db_url, tmp_path)
    body = ("[" * depth + "]" * depth).encode()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(c), raise_app_exceptions=False), base_url="http://sb"
    ) as api:
        r = await api.post("/ui/login", content=body, headers={"Content-Type": "application/json"})
        shallow = await api.post(
            "/api/v1/webhooks/payments", content=("[" * 128 + "]" * 128).encode(), headers={}
        )
    await c.pool.aclose()
    assert r.status_code == 400 and "128 levels" in r.json()["error"]
    assert shallow.status_code != 400  # 128 levels pass the edge (here: no such connection)


def test_a_webhook_parser_reached_without_the_edge_refuses_a_body_it_cannot_read(
    db_url: str, tmp_path: Path
) -> None:
    from app.services import webhooks
    from app.services.errors import Invalid

    c = container(db_url, tmp_path)
    webhook_connections(c, {"payments": SECRET, "shop": SECRET})
    for kind, delivery in (("payments", stripe_delivery), ("shop", shop_delivery)):
        body, headers = delivery()
        with pytest.raises(Invalid, match="nests its values too deep"):
            webhooks.receive(c.db, c.box, kind, headers, body)
