"""Each connector kind declares how its webhooks are verified and read; the service knows no vendor."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime

import pytest

from connectors.base import Connector
from connectors.chat import signing as slack
from connectors.helpdesk import webhooks as zendesk
from connectors.payments import webhooks as stripe
from connectors.registry import CONNECTOR_TYPES, connector_type
from connectors.shop import webhooks as shopify
from connectors.webhooks import PayloadError, SignatureError

SECRET = "whsec_unit"


def test_the_kinds_that_take_webhooks_each_declare_their_own_signature_check() -> None:
    takes = {kind for kind in CONNECTOR_TYPES if connector_type(kind).takes_webhooks()}
    assert takes == {"chat", "crm", "helpdesk", "payments", "shop", "tracker", "warehouse"}
    for kind in takes:
        cls = connector_type(kind)
        assert any("verify_webhook" in vars(k) for k in cls.__mro__ if k is not Connector), kind
    with pytest.raises(SignatureError, match="declares no webhook signature scheme"):
        connector_type("erp").verify_webhook(b"{}", {}, SECRET)


def test_every_vendor_signature_error_is_the_shared_one() -> None:
    for module in (slack, zendesk, stripe, shopify):
        assert issubclass(module.SignatureError, SignatureError)


def test_stripe_dispute_becomes_a_record_and_a_forged_one_is_refused() -> None:
    payments = connector_type("payments")
    body = json.dumps(
        {
            "id": "evt_1",
            "type": "charge.dispute.created",
            "data": {"object": {"id": "dp_1", "amount": 4599, "currency": "eur", "charge": "ch_1"}},
        }
    ).encode()
    headers = {"Stripe-Signature": stripe.sign(body, SECRET, int(time.time()))}
    payments.verify_webhook(body, headers, SECRET)
    with pytest.raises(SignatureError):
        payments.verify_webhook(body + b" ", headers, SECRET)
    event = payments.parse_webhook(body, headers)
    assert (event.type, event.id) == ("charge.dispute.created", "evt_1")
    assert event.intake is not None and event.intake.kind == "record"
    assert event.intake.payload["amount"] == "45.99" and event.intake.payload["currency"] == "EUR"
    refund = json.dumps({"type": "charge.refunded", "data": {"object": {"id": "ch_1"}}}).encode()
    assert payments.parse_webhook(refund, {}).id == "ch_1"  # no event id: known by its object
    with pytest.raises(PayloadError) as bad:
        payments.parse_webhook(b'{"type": "x", "data": []}', {})
    assert bad.value.field == "data"


@pytest.mark.parametrize(
    ("amount", "currency", "record"),
    [(5000, "jpy", ("5000", "JPY")), (5120, "kwd", ("5.12", "KWD")), (4599, None, ("45.99", "USD"))],
)
def test_a_dispute_amount_is_read_in_its_currency_s_minor_units(
    amount: int, currency: str | None, record: tuple[str, str]
) -> None:
    """Stripe's amount is in the currency's minor units: ¥5,000 arrives as 5000, 5.120 KWD as 5120."""
    body = json.dumps(
        {
            "id": "evt_2",
            "type": "charge.dispute.created",
            "data": {"object": {"id": "dp_2", "amount": amount, "currency": currency, "charge": "ch_2"}},
        }
    ).encode()
    event = connector_type("payments").parse_webhook(body, {})
    assert event.intake is not None
    assert (event.intake.payload["amount"], event.intake.payload["currency"]) == record


def test_zendesk_ticket_event_carries_the_requester_id_as_a_number() -> None:
    helpdesk = connector_type("helpdesk")
    body = json.dumps(
        {"type": "zen:event-type:ticket.created", "detail": {"id": "35436", "requester_id": "901"}}
    ).encode()
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    helpdesk.verify_webhook(body, zendesk.signed_headers(body, SECRET, stamp), SECRET)
    event = helpdesk.parse_webhook(body, {})
    assert event.type == "ticket.created" and event.id == "35436"
    assert event.intake is not None and event.intake.payload["requester_id"] == 901
    assert event.intake.payload["subject"] == "(no subject)"
    other = helpdesk.parse_webhook(b'{"type": "zen:event-type:user.created"}', {})
    assert other.type == "zen:event-type:user.created" and other.intake is None and other.id is None


def test_slack_url_check_is_answered_and_events_start_nothing() -> None:
    chat = connector_type("chat")
    hello = json.dumps({"type": "url_verification", "challenge": "c1"}).encode()
    chat.verify_webhook(hello, slack.signed_headers(hello, SECRET, int(time.time())), SECRET)
    assert chat.parse_webhook(hello, {}).reply == {"challenge": "c1"}
    message = json.dumps({"type": "event_callback", "event_id": "Ev1", "event": {"type": "message"}}).encode()
    event = chat.parse_webhook(message, {})
    assert event.type == "message" and event.id is None and event.reply is None


def test_shopify_event_is_named_by_its_topic_and_its_orders_id() -> None:
    shop = connector_type("shop")
    order = {"id": 820982911946154508, "total_price": "12.00", "financial_status": "paid", "line_items": []}
    body = json.dumps(order).encode()
    headers = shopify.signed_headers(
        body, SECRET, "orders/paid", event_id="e-1", shop_domain="s.myshopify.com", api_version="2024-10"
    )
    shop.verify_webhook(body, headers, SECRET)
    with pytest.raises(SignatureError, match="does not match"):
        shop.verify_webhook(body, headers, "another secret")
    event = shop.parse_webhook(body, headers)
    assert (event.type, event.intake) == ("orders/paid", None)
    assert event.id == "orders/paid:820982911946154508"  # not the unsigned "e-1" header
    assert event.earlier_ids == ("sha256:" + hashlib.sha256(body).hexdigest(),)  # as it was known before
    assert event.data is not None and event.data["total_price"] == "12.00"
