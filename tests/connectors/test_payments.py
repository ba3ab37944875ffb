"""The payments connector against its Stripe simulator over real loopback HTTP.

Every operation is exercised and writes are read back the way Stripe shows them
(`/v1/charges/{id}`, `/v1/refunds?charge=`). Stripe's idempotency (replay and
mismatch), refund limits, webhook signatures and a signed dispute webhook delivered to
a local receiver are covered, as are 429s with Retry-After and the tool schemas.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import urllib.parse
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from connectors.base import ConnectorError, first_attempt
from connectors.http import BearerAuth, build_client
from connectors.payments import webhooks
from connectors.payments.client import ACTION_KEY, PaymentsConnector, StripeError, encode_form
from connectors.payments.seed import CHARGES, CUSTOMERS
from connectors.payments.simulator import PaymentsState, create_app, decode_form
from connectors.simulator_base import SimulatorAuth
from tests.connectors.conftest import FakeSleep, Sim, retry_policy
from tools.base import Tool
from tools.from_connector import tools_for

KEY = "sk_test_51NwThNorthwindDemoKey"
AUTH = {"Authorization": f"Bearer {KEY}"}
NOW = 1_760_000_000  # the simulator's fixed clock: webhook timestamps are checked against it


@pytest.fixture
def stripe_sim(make_sim: Callable[..., Sim]) -> Sim:
    app = create_app(auth=SimulatorAuth(bearer=frozenset({KEY})), clock=lambda: float(NOW))
    return make_sim(app=app)


def state_of(sim: Sim) -> PaymentsState:
    state: PaymentsState = sim.app.state.payments
    return state


def read(sim: Sim, path: str, **params: Any) -> Any:
    """Read something back the way Stripe shows it."""
    response = sim.http.get(path, params=params, headers=AUTH)
    response.raise_for_status()
    return response.json()


def connector(url: str, sleep: FakeSleep, *, key: str = KEY, timeout: float = 5.0) -> PaymentsConnector:
    return PaymentsConnector(
        build_client(url, auth=BearerAuth(key), retry=retry_policy(sleep), timeout=timeout)
    )


@pytest.fixture
async def stripe(stripe_sim: Sim, fake_sleep: FakeSleep) -> AsyncIterator[PaymentsConnector]:
    c = connector(stripe_sim.url, fake_sleep)
    yield c
    await c.aclose()


async def customer_id(stripe: PaymentsConnector, email: str) -> str:
    found = await stripe.find_customer(email)
    assert found is not None, email
    return str(found["id"])


async def charge_for(stripe: PaymentsConnector, email: str, order: str) -> dict[str, Any]:
    charges = await stripe.list_charges(await customer_id(stripe, email), limit=100)
    return next(c for c in charges if c["metadata"].get("order_id") == order)


# --- reads -------------------------------------------------------------------------------


async def test_check_names_the_account(stripe: PaymentsConnector) -> None:
    result = await stripe.check()
    assert result == {
        "ok": True,
        "account": {
            "id": "acct_1NwThNorthwind0",
            "name": "Northwind",
            "country": "US",
            "default_currency": "usd",
        },
    }


async def test_wrong_key_is_a_clear_401(stripe_sim: Sim, fake_sleep: FakeSleep) -> None:
    c = connector(stripe_sim.url, fake_sleep, key="sk_test_wrong")
    try:
        with pytest.raises(StripeError) as err:
            await c.get_customer("cus_x")
    finally:
        await c.aclose()
    assert err.value.status == 401 and not err.value.retryable
    assert "rejected the API key" in str(err.value) and "Invalid API Key" in str(err.value)


async def test_find_customer_by_email(stripe: PaymentsConnector, stripe_sim: Sim) -> None:
    raj = await stripe.find_customer("Raj.Patel@example.org")
    assert raj is not None
    assert raj["object"] == "customer" and raj["id"].startswith("cus_")
    assert raj["email"] == "raj.patel@example.org" and raj["name"] == "Raj Patel"
    assert await stripe.find_customer("nobody@example.com") is None
    # Quotes in an address are escaped for Stripe's search language, not a syntax error.
    odd = state_of(stripe_sim).add_customer(name="Ciara O'Brien", email="ciara.o'brien@example.ie")
    found = await stripe.find_customer("ciara.o'brien@example.ie")
    assert found is not None and found["id"] == odd["id"]


async def test_every_seeded_customer_is_findable(stripe: PaymentsConnector) -> None:
    assert len(CUSTOMERS) == 8
    for c in CUSTOMERS:
        found = await stripe.find_customer(c.email)
        assert found is not None and found["name"] == c.name and found["currency"] == c.currency


async def test_get_customer_and_a_missing_one(stripe: PaymentsConnector) -> None:
    cid = await customer_id(stripe, "dana.whitfield@example.com")
    customer = await stripe.get_customer(cid)
    assert customer["id"] == cid and customer["livemode"] is False and customer["balance"] == 0
    with pytest.raises(StripeError) as err:
        await stripe.get_customer("cus_doesnotexist")
    assert err.value.status == 404 and err.value.code == "resource_missing" and err.value.param == "id"
    assert "No such customer: 'cus_doesnotexist'" in str(err.value)
    assert "customer cus_doesnotexist" in str(err.value)
    with pytest.raises(ConnectorError, match="not a single Stripe object id"):
        await stripe.get_customer("../v1/account")


async def test_list_charges_shows_the_duplicate_charge(stripe: PaymentsConnector, stripe_sim: Sim) -> None:
    charges = await stripe.list_charges(await customer_id(stripe, "raj.patel@example.org"))
    assert [c["amount"] for c in charges] == [999, 999, 999]
    assert all(c["currency"] == "usd" and c["status"] == "succeeded" for c in charges)
    assert [c["created"] for c in charges] == sorted((c["created"] for c in charges), reverse=True)
    newest, second, older = charges
    assert newest["created"] - second["created"] == 36  # the renewal ran twice
    assert second["created"] - older["created"] > 25 * 86400
    assert newest["calculated_statement_descriptor"] == "NORTHWIND*PLUS"
    # Links point inside the simulator, mount prefix included, and open.
    assert newest["receipt_url"] == f"{stripe_sim.url}/receipts/{newest['id']}"
    page = stripe_sim.http.get(newest["receipt_url"].removeprefix(stripe_sim.url))
    assert page.status_code == 200 and "$9.99" in page.text
    only_one = await stripe.list_charges(await customer_id(stripe, "raj.patel@example.org"), limit=1)
    assert [c["id"] for c in only_one] == [newest["id"]]


async def test_get_charge_and_its_payment_intent(stripe: PaymentsConnector) -> None:
    listed = await charge_for(stripe, "dana.whitfield@example.com", "NW-48102")
    charge = await stripe.get_charge(listed["id"])
    assert charge["amount"] == 12900 and charge["amount_refunded"] == 0 and charge["refunded"] is False
    assert charge["payment_method_details"]["card"]["last4"] == "4242"
    pi = await stripe.get_payment_intent(charge["payment_intent"])
    assert pi["object"] == "payment_intent" and pi["status"] == "succeeded"
    assert pi["latest_charge"] == charge["id"] and pi["amount_received"] == 12900
    with pytest.raises(StripeError, match="No such payment_intent"):
        await stripe.get_payment_intent("pi_missing")


async def test_list_refunds_carries_the_bank_reference(stripe: PaymentsConnector) -> None:
    desk = await charge_for(stripe, "kevin.doyle@example.net", "NW-45530")
    assert desk["refunded"] is True and desk["amount_refunded"] == 34900
    refunds = await stripe.list_refunds(desk["id"])
    assert len(refunds) == 1
    assert refunds[0]["amount"] == 34900 and refunds[0]["status"] == "succeeded"
    assert refunds[0]["destination_details"]["card"]["reference"] == "74567890123456789012345"
    partial = await charge_for(stripe, "sam.okafor@example.com", "NW-46975")
    assert [r["amount"] for r in await stripe.list_refunds(partial["id"])] == [1500]
    assert partial["currency"] == "gbp" and partial["refunded"] is False


async def test_list_refunds_follows_pagination(stripe: PaymentsConnector, stripe_sim: Sim) -> None:
    state = state_of(stripe_sim)
    cid = await customer_id(stripe, "ann.lee@example.com")
    charge = state.add_charge(customer_id=cid, amount=1000, currency="usd", description="Gift cards")
    for _ in range(105):
        state.create_refund({"charge": charge["id"], "amount": "1"})
    first = read(stripe_sim, "/v1/refunds", charge=charge["id"], limit=100)
    assert first["object"] == "list" and first["url"] == "/v1/refunds"
    assert len(first["data"]) == 100 and first["has_more"] is True
    refunds = await stripe.list_refunds(charge["id"])
    assert len(refunds) == 105 and len({r["id"] for r in refunds}) == 105


async def test_list_disputes_and_filter_by_status(stripe: PaymentsConnector) -> None:
    disputes = await stripe.list_disputes()
    assert len(disputes) == 2 and all(d["status"] == "needs_response" for d in disputes)
    reasons = {d["reason"] for d in disputes}
    assert reasons == {"product_not_received", "credit_not_processed"}
    assert await stripe.list_disputes(status="won") == []
    assert len(await stripe.list_disputes(limit=1, status="needs_response")) == 1
    dispute = await stripe.get_dispute(disputes[0]["id"])
    assert dispute["evidence_details"]["due_by"] > dispute["created"]
    assert dispute["evidence_details"]["has_evidence"] is False
    charge = await stripe.get_charge(dispute["charge"])
    assert charge["disputed"] is True


# --- writes -------------------------------------------------------------------------------


async def test_partial_then_full_refund_read_back(stripe: PaymentsConnector, stripe_sim: Sim) -> None:
    blender = await charge_for(stripe, "dana.whitfield@example.com", "NW-48102")
    first = await stripe.create_refund(blender["id"], amount=500, reason="requested_by_customer")
    assert first["deduplicated"] is False
    assert first["refund"]["amount"] == 500 and first["refund"]["reason"] == "requested_by_customer"
    shown = read(stripe_sim, f"/v1/charges/{blender['id']}")
    assert shown["amount_refunded"] == 500 and shown["refunded"] is False
    rest = await stripe.create_refund(blender["id"])  # no amount: everything that is left
    assert rest["refund"]["amount"] == 12400
    shown = read(stripe_sim, f"/v1/charges/{blender['id']}")
    assert shown["amount_refunded"] == 12900 and shown["refunded"] is True
    listed = read(stripe_sim, "/v1/refunds", charge=blender["id"])
    assert [r["amount"] for r in listed["data"]] == [12400, 500]


async def test_refund_approved_twice_is_one_refund(stripe: PaymentsConnector, stripe_sim: Sim) -> None:
    """Promise 2 at the connector: the action id is Stripe's Idempotency-Key."""
    raj = await customer_id(stripe, "raj.patel@example.org")
    duplicate = (await stripe.list_charges(raj))[0]
    first = await stripe.create_refund(duplicate["id"], reason="duplicate", idempotency_key="act-7")
    again = await stripe.create_refund(duplicate["id"], reason="duplicate", idempotency_key="act-7")
    assert first["deduplicated"] is False and again["deduplicated"] is True
    assert again["refund"] == first["refund"]
    assert first["refund"]["metadata"] == {ACTION_KEY: "act-7"}
    refunds = await stripe.list_refunds(duplicate["id"])
    assert [r["id"] for r in refunds] == [first["refund"]["id"]]
    assert (await stripe.get_charge(duplicate["id"]))["amount_refunded"] == 999


async def test_same_key_other_arguments_is_an_idempotency_error(stripe: PaymentsConnector) -> None:
    blender = await charge_for(stripe, "dana.whitfield@example.com", "NW-48102")
    await stripe.create_refund(blender["id"], amount=1000, idempotency_key="act-8")
    with pytest.raises(StripeError) as err:
        await stripe.create_refund(blender["id"], amount=2000, idempotency_key="act-8")
    assert err.value.status == 400 and err.value.type == "idempotency_error"
    assert not err.value.retryable
    assert "same parameters" in str(err.value) and "act-8" in str(err.value)
    assert [r["amount"] for r in await stripe.list_refunds(blender["id"])] == [1000]


async def test_refund_over_the_unrefunded_amount_names_the_param(stripe: PaymentsConnector) -> None:
    planters = await charge_for(stripe, "maria.gonzalez@example.com", "NW-47420")  # 6750, 2000 refunded
    with pytest.raises(StripeError) as err:
        await stripe.create_refund(planters["id"], amount=5000, idempotency_key="act-9")
    assert err.value.status == 400 and err.value.param == "amount" and err.value.code == "amount_too_large"
    assert "param amount" in str(err.value)
    assert "($50.00) is greater than unrefunded amount on charge ($47.50)" in str(err.value)
    assert (await stripe.get_charge(planters["id"]))["amount_refunded"] == 2000
    # A refused request stores nothing under its key: the corrected one goes through.
    ok = await stripe.create_refund(planters["id"], amount=4750, idempotency_key="act-9b")
    assert ok["refund"]["amount"] == 4750
    with pytest.raises(StripeError) as err:
        await stripe.create_refund(planters["id"], amount=1)
    assert err.value.code == "charge_already_refunded"


async def test_refund_of_an_unknown_charge(stripe: PaymentsConnector) -> None:
    with pytest.raises(StripeError) as err:
        await stripe.create_refund("ch_nope")
    assert err.value.status == 400 and err.value.param == "charge"
    assert "No such charge: 'ch_nope'" in str(err.value)


@pytest.mark.parametrize("first", [False, True], ids=["retry", "first-attempt"])
async def test_refund_request_on_the_wire(fake_sleep: FakeSleep, first: bool) -> None:
    """Form-encoded, nested metadata key, bearer key and Idempotency-Key, exactly as Stripe takes
    them; the action's key is in the metadata on a first attempt too (a retry past Stripe's
    24 hours finds the refund by it), though only a retry looks for an earlier refund."""
    seen: list[httpx.Request] = []
    looked: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":  # the look for an earlier refund of this action
            looked.append(request)
            return httpx.Response(200, json={"object": "list", "data": [], "has_more": False})
        seen.append(request)
        return httpx.Response(200, json={"id": "re_1", "object": "refund", "amount": 250})

    client = build_client(
        "https://api.stripe.com",
        auth=BearerAuth(KEY),
        retry=retry_policy(fake_sleep),
        transport=httpx.MockTransport(handler),
    )
    c = PaymentsConnector(client, {"stripe_version": "2024-06-20"})
    try:
        with first_attempt() if first else contextlib.nullcontext():
            result = await c.create_refund("ch_123", amount=250, reason="duplicate", idempotency_key="act-1")
    finally:
        await c.aclose()
    assert result == {"refund": {"id": "re_1", "object": "refund", "amount": 250}, "deduplicated": False}
    assert len(looked) == (0 if first else 1)
    (request,) = seen
    assert request.method == "POST" and request.url.path == "/v1/refunds"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["idempotency-key"] == "act-1"
    assert request.headers["stripe-version"] == "2024-06-20"
    assert urllib.parse.parse_qsl(request.content.decode()) == [
        ("charge", "ch_123"),
        ("amount", "250"),
        ("reason", "duplicate"),
        (f"metadata[{ACTION_KEY}]", "act-1"),
    ]


def test_form_encoding_round_trip() -> None:
    params = {
        "charge": "ch_1",
        "amount": 250,
        "submit": True,
        "skip": None,
        "metadata": {"order": 7, "note": "a&b=c"},
        "expand": ["data.customer", "data.refunds"],
    }
    pairs = encode_form(params)
    assert ("metadata[order]", "7") in pairs and ("submit", "true") in pairs
    assert all(k != "skip" for k, _ in pairs)
    wire = urllib.parse.urlencode(pairs)
    back = decode_form(urllib.parse.parse_qsl(wire))
    assert back == {
        "charge": "ch_1",
        "amount": "250",
        "submit": "true",
        "metadata": {"order": "7", "note": "a&b=c"},
        "expand": ["data.customer", "data.refunds"],
    }
    assert decode_form([("expand[]", "a"), ("expand[]", "b")]) == {"expand": ["a", "b"]}


async def test_submit_dispute_evidence_read_back(stripe: PaymentsConnector, stripe_sim: Sim) -> None:
    rug = next(d for d in await stripe.list_disputes() if d["reason"] == "product_not_received")
    text = "Carrier confirmed delivery to the front porch on the 12th; photo and tracking attached."
    result = await stripe.submit_dispute_evidence(
        rug["id"],
        uncategorized_text=text,
        customer_email_address="ann.lee@example.com",
        product_description="Wool rug 8x10 (order NW-46890)",
        idempotency_key="act-20",
    )
    assert result["deduplicated"] is False
    shown = read(stripe_sim, f"/v1/disputes/{rug['id']}")
    assert shown["status"] == "under_review"
    assert shown["evidence"]["uncategorized_text"] == text
    assert shown["evidence"]["customer_email_address"] == "ann.lee@example.com"
    assert shown["evidence_details"]["submission_count"] == 1 and shown["evidence_details"]["has_evidence"]
    assert shown["metadata"] == {ACTION_KEY: "act-20"}
    replay = await stripe.submit_dispute_evidence(
        rug["id"],
        uncategorized_text=text,
        customer_email_address="ann.lee@example.com",
        product_description="Wool rug 8x10 (order NW-46890)",
        idempotency_key="act-20",
    )
    assert replay["deduplicated"] is True
    assert read(stripe_sim, f"/v1/disputes/{rug['id']}")["evidence_details"]["submission_count"] == 1
    with pytest.raises(StripeError) as err:  # a new action cannot change submitted evidence
        await stripe.submit_dispute_evidence(rug["id"], uncategorized_text="more", idempotency_key="act-21")
    assert err.value.status == 400 and err.value.param == "evidence"
    assert "already been submitted" in str(err.value)
    assert len(await stripe.list_disputes(status="under_review")) == 1


async def test_stage_dispute_evidence_without_submitting(stripe: PaymentsConnector) -> None:
    desk = next(d for d in await stripe.list_disputes() if d["reason"] == "credit_not_processed")
    await stripe.submit_dispute_evidence(
        desk["id"], uncategorized_text="Refunded in full on the 14th; ARN attached.", submit=False
    )
    staged = await stripe.get_dispute(desk["id"])
    assert staged["status"] == "needs_response"
    assert staged["evidence_details"]["has_evidence"] is True
    assert staged["evidence_details"]["submission_count"] == 0
    with pytest.raises(ConnectorError, match="needs some evidence"):
        await stripe.submit_dispute_evidence(desk["id"], submit=False)


async def test_simulator_is_strict_about_parameters(stripe_sim: Sim) -> None:
    unknown = stripe_sim.http.post(
        "/v1/refunds", data={"charge": "ch_x", "amont": "5"}, headers=AUTH
    )  # a typo
    assert unknown.status_code == 400
    assert unknown.json()["error"]["param"] == "amont"
    assert unknown.json()["error"]["code"] == "parameter_unknown"
    as_json = stripe_sim.http.post("/v1/refunds", json={"charge": "ch_x"}, headers=AUTH)
    assert as_json.status_code == 400 and "Content-Type" in as_json.json()["error"]["message"]
    bad_reason = stripe_sim.http.post("/v1/refunds", data={"charge": "ch_x", "reason": "angry"}, headers=AUTH)
    assert bad_reason.json()["error"]["param"] in ("charge", "reason")
    nowhere = stripe_sim.http.get("/v1/nothing", headers=AUTH)
    assert nowhere.status_code == 404 and "Unrecognized request URL" in nowhere.json()["error"]["message"]


# --- faults ---------------------------------------------------------------------------------


async def test_429_retry_after_is_honoured(
    stripe: PaymentsConnector, stripe_sim: Sim, fake_sleep: FakeSleep
) -> None:
    cid = await customer_id(stripe, "jonas.weber@example.org")
    stripe_sim.faults(rate_limit_next=2, retry_after=3)
    customer = await stripe.get_customer(cid)
    assert customer["email"] == "jonas.weber@example.org"
    assert fake_sleep.delays == [3.0, 3.0]
    assert stripe_sim.fault_stats()["injected"] == 2


async def test_429_on_a_refund_retries_into_one_refund(
    stripe: PaymentsConnector, stripe_sim: Sim, fake_sleep: FakeSleep
) -> None:
    lamp = await charge_for(stripe, "jonas.weber@example.org", "NW-47102")
    stripe_sim.faults(rate_limit_next=1, retry_after=2, methods=["POST"])
    result = await stripe.create_refund(lamp["id"], amount=990, idempotency_key="act-30")
    assert result["refund"]["amount"] == 990 and result["refund"]["currency"] == "eur"
    assert fake_sleep.delays == [2.0]
    assert len(await stripe.list_refunds(lamp["id"])) == 1


async def test_lost_answer_after_the_refund_landed_is_replayed(
    stripe_sim: Sim, fake_sleep: FakeSleep
) -> None:
    """The crash case in small: the refund is made, its answer never arrives, the HTTP
    layer sends it again with the same key - and Stripe replays instead of refunding twice."""
    seed_client = connector(stripe_sim.url, fake_sleep)
    try:
        curtains = await charge_for(seed_client, "greta.lindqvist@example.net", "NW-47761")
    finally:
        await seed_client.aclose()
    # The refund is made at once and its answer held for 3 s; the client gives up after 0.5 s
    # (room enough for a loaded machine to make the refund first, which the test is about).
    stripe_sim.faults(delay_after_write_ms=3000)
    fake_sleep.then = stripe_sim.app.state.faults.reset  # the outage ends before the retry
    c = connector(stripe_sim.url, fake_sleep, timeout=0.5)
    try:
        result = await c.create_refund(curtains["id"], amount=14900, idempotency_key="act-31")
    finally:
        await c.aclose()
    assert len(fake_sleep.delays) == 1
    assert result["deduplicated"] is True
    assert len(read(stripe_sim, "/v1/refunds", charge=curtains["id"])["data"]) == 1


# --- webhooks -------------------------------------------------------------------------------

SECRET = "whsec_test_secret"
PAYLOAD = json.dumps({"id": "evt_1", "object": "event", "type": "charge.dispute.created"}).encode()


def test_sign_and_verify() -> None:
    header = webhooks.sign(PAYLOAD, SECRET, 1000)
    assert header.startswith("t=1000,v1=") and len(header.split("v1=")[1]) == 64
    event = webhooks.verify(PAYLOAD, header, SECRET, now=1010)
    assert event["type"] == "charge.dispute.created"


def test_verify_rejects_a_tampered_body_or_the_wrong_secret() -> None:
    header = webhooks.sign(PAYLOAD, SECRET, 1000)
    with pytest.raises(webhooks.SignatureError, match="no signature matches"):
        webhooks.verify(PAYLOAD.replace(b"evt_1", b"evt_2"), header, SECRET, now=1000)
    with pytest.raises(webhooks.SignatureError, match="no signature matches"):
        webhooks.verify(PAYLOAD, header, "whsec_other", now=1000)
    # Changing the timestamp invalidates the signature too: it is part of what is signed.
    with pytest.raises(webhooks.SignatureError, match="no signature matches"):
        webhooks.verify(PAYLOAD, header.replace("t=1000", "t=1001"), SECRET, now=1000)


def test_verify_rejects_old_and_future_signatures() -> None:
    header = webhooks.sign(PAYLOAD, SECRET, 1000)
    assert webhooks.verify(PAYLOAD, header, SECRET, now=1300)["id"] == "evt_1"  # at the edge
    with pytest.raises(webhooks.SignatureError, match="301 s old"):
        webhooks.verify(PAYLOAD, header, SECRET, now=1301)
    with pytest.raises(webhooks.SignatureError, match="in the future"):
        webhooks.verify(PAYLOAD, header, SECRET, now=600)
    assert webhooks.verify(PAYLOAD, header, SECRET, tolerance=0, now=99999)["id"] == "evt_1"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "no Stripe-Signature header"),
        ("", "no Stripe-Signature header"),
        ("v1=abc", "no timestamp"),
        ("t=1000", "no v1 signature"),
        ("t=soon,v1=abc", "not a number"),
    ],
)
def test_verify_rejects_missing_or_malformed_headers(header: str | None, message: str) -> None:
    with pytest.raises(webhooks.SignatureError, match=message):
        webhooks.verify(PAYLOAD, header, SECRET, now=1000)


def test_verify_accepts_any_of_several_signatures() -> None:
    """While a secret is rolled Stripe signs with old and new; v0 (legacy) is ignored."""
    good = webhooks.compute_signature(PAYLOAD, SECRET, 1000)
    old = webhooks.compute_signature(PAYLOAD, "whsec_previous", 1000)
    header = f"t=1000,v1={old},v1={good},v0={'0' * 64}"
    assert webhooks.verify(PAYLOAD, header, SECRET, now=1000)["id"] == "evt_1"
    assert webhooks.verify(PAYLOAD, header, "whsec_previous", now=1000)["id"] == "evt_1"
    only_v0 = f"t=1000,v0={good}"
    with pytest.raises(webhooks.SignatureError, match="no v1 signature"):
        webhooks.verify(PAYLOAD, only_v0, SECRET, now=1000)


def test_verify_signed_but_not_json() -> None:
    header = webhooks.sign(b"not json", SECRET, 1000)
    with pytest.raises(ValueError, match="not JSON") as err:
        webhooks.verify(b"not json", header, SECRET, now=1000)
    assert not isinstance(err.value, webhooks.SignatureError)


async def test_dispute_webhook_is_delivered_signed(
    stripe: PaymentsConnector, stripe_sim: Sim, serve_asgi: Callable[[Any], str]
) -> None:
    received: list[tuple[bytes, dict[str, str]]] = []
    receiver = FastAPI()

    @receiver.post("/hooks/stripe")
    async def hook(request: Request) -> dict[str, bool]:
        received.append((await request.body(), dict(request.headers)))
        return {"received": True}

    hook_url = serve_asgi(receiver) + "/hooks/stripe"
    configured = stripe_sim.http.post("/_webhook", json={"url": hook_url, "secret": SECRET})
    assert configured.status_code == 200 and configured.json()["url"] == hook_url
    lamp = await charge_for(stripe, "jonas.weber@example.org", "NW-47102")
    # Control endpoints skip faults and auth (no Authorization header here), like /_faults.
    stripe_sim.faults(rate_limit_next=5)
    emitted = stripe_sim.http.post(
        "/_emit/dispute_created", json={"charge": lamp["id"], "reason": "fraudulent"}
    )
    stripe_sim.http.delete("/_faults")
    assert emitted.status_code == 200, emitted.text
    assert emitted.json()["delivery"]["status"] == 200

    (body, headers) = received[0]
    assert len(received) == 1
    assert headers["content-type"].startswith("application/json")
    # Signed exactly as Stripe signs, worked out here without our webhooks module (stripe-python
    # `stripe/_webhook.py`, WebhookSignature.generate_signature_header): the send time, and the
    # hex HMAC-SHA256 of "<time>.<body>" under the endpoint's secret, as that secret's text.
    v1 = hmac.new(SECRET.encode(), f"{NOW}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers["stripe-signature"] == f"t={NOW},v1={v1}"
    event = webhooks.verify(body, headers["stripe-signature"], SECRET, now=NOW + 5)
    assert event["object"] == "event" and event["type"] == "charge.dispute.created"
    assert event["id"] == emitted.json()["event"]["id"] and event["api_version"]
    dispute = event["data"]["object"]
    assert dispute["object"] == "dispute" and dispute["charge"] == lamp["id"]
    assert (
        dispute["status"] == "needs_response" and dispute["amount"] == 5990 and dispute["currency"] == "eur"
    )
    with pytest.raises(webhooks.SignatureError, match="old"):
        webhooks.verify(body, headers["stripe-signature"], SECRET, now=NOW + 3600)
    # The same event and dispute are visible through the API.
    assert read(stripe_sim, f"/v1/events/{event['id']}")["type"] == "charge.dispute.created"
    assert dispute["id"] in {d["id"] for d in await stripe.list_disputes(status="needs_response")}
    assert (await stripe.get_charge(lamp["id"]))["disputed"] is True
    assert stripe_sim.http.get("/_webhook").json()["deliveries"][0]["status"] == 200


async def test_emit_without_a_webhook_still_records_the_event(stripe_sim: Sim) -> None:
    emitted = stripe_sim.http.post("/_emit/dispute_created")
    assert emitted.status_code == 200
    assert emitted.json()["delivery"] is None
    event = emitted.json()["event"]
    assert read(stripe_sim, "/v1/events", type="charge.dispute.created")["data"][0]["id"] == event["id"]
    bad = stripe_sim.http.post("/_webhook", json={"url": "ftp://x"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "url"


# --- what the model sees --------------------------------------------------------------------

OPERATIONS = {
    "find_customer": ("read", "none"),
    "get_customer": ("read", "none"),
    "list_charges": ("read", "none"),
    "get_charge": ("read", "none"),
    "get_payment_intent": ("read", "none"),
    "list_refunds": ("read", "none"),
    "list_disputes": ("read", "none"),
    "get_dispute": ("read", "none"),
    "list_payouts": ("read", "none"),
    "list_balance_transactions": ("read", "none"),
    "create_refund": ("write", "key"),
    "submit_dispute_evidence": ("write", "key"),
}


@pytest.fixture
def tools() -> dict[str, Tool]:
    c = PaymentsConnector(httpx.AsyncClient(base_url="https://api.stripe.com"))
    return {t.operation: t for t in tools_for("payments", c)}


def test_every_operation_is_a_tool_with_its_effect(tools: dict[str, Tool]) -> None:
    assert {op: (t.effect, t.idempotency) for op, t in tools.items()} == OPERATIONS
    for op, tool in tools.items():
        assert tool.name == f"payments__{op}"
        assert tool.description.startswith(f"[payments, {OPERATIONS[op][0]}] ") and len(tool.description) > 40
        assert tool.input_schema["additionalProperties"] is False
        assert "idempotency_key" not in tool.input_schema["properties"]


def test_create_refund_schema(tools: dict[str, Tool]) -> None:
    tool = tools["create_refund"]
    props = tool.input_schema["properties"]
    assert tool.input_schema["required"] == ["charge_id"]
    assert {"type": "integer", "exclusiveMinimum": 0} in props["amount"]["anyOf"]
    reason = next(s for s in props["reason"]["anyOf"] if "enum" in s)
    assert reason == {"type": "string", "enum": ["duplicate", "fraudulent", "requested_by_customer"]}
    assert tool.validate({"charge_id": "ch_1", "amount": 999, "reason": "duplicate"}) == []
    assert tool.validate({"charge_id": "ch_1"}) == []
    assert tool.validate({"charge_id": "ch_1", "amount": "999"})  # cents are an integer
    assert tool.validate({"charge_id": "ch_1", "amount": 9.99})
    assert tool.validate({"charge_id": "ch_1", "amount": 0})
    assert tool.validate({"charge_id": "ch_1", "reason": "angry_customer"})


def test_read_schemas(tools: dict[str, Tool]) -> None:
    limit = tools["list_charges"].input_schema["properties"]["limit"]
    assert limit == {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}
    assert tools["list_charges"].validate({"customer_id": "cus_1", "limit": 500})
    status = tools["list_disputes"].input_schema["properties"]["status"]
    assert "needs_response" in next(s for s in status["anyOf"] if "enum" in s)["enum"]
    assert tools["find_customer"].input_schema["properties"] == {"email": {"type": "string"}}
    evidence = tools["submit_dispute_evidence"].input_schema["properties"]
    assert evidence["submit"] == {"type": "boolean", "default": True}


def test_registered_with_its_simulator() -> None:
    from connectors.registry import CONNECTOR_TYPES
    from connectors.simulators import SIMULATORS

    assert CONNECTOR_TYPES["payments"] is PaymentsConnector
    assert isinstance(SIMULATORS["payments"](seed=False), FastAPI)
    assert len(CHARGES) >= 10


async def test_a_refund_retried_a_day_later_is_still_one_refund(
    make_sim: Callable[..., Sim], fake_sleep: FakeSleep
) -> None:
    """The simulator forgets keys after 24 hours as Stripe does; the client still refunds once."""
    now = [float(NOW)]
    sim = make_sim(app=create_app(auth=SimulatorAuth(bearer=frozenset({KEY})), clock=lambda: now[0]))
    payments = connector(sim.url, fake_sleep)
    charge = await charge_for(payments, "dana.whitfield@example.com", "NW-48102")
    first = await payments.create_refund(charge["id"], 100, idempotency_key="act-late")
    now[0] += 25 * 3600
    again = await payments.create_refund(charge["id"], 100, idempotency_key="act-late")
    assert again["deduplicated"] is True and again["refund"]["id"] == first["refund"]["id"]
    refunds = [r for r in state_of(sim).refunds.values() if r["charge"] == charge["id"]]
    assert sum(1 for r in refunds if r["metadata"].get("switchboard_action_id") == "act-late") == 1
    await payments.aclose()


def test_simulator_answers_409_while_a_key_is_in_flight() -> None:
    """Stripe: a second request with a key whose first request is still running gets 409
    `idempotency_key_in_use` (and `Stripe-Should-Retry: true`), not a second write."""
    from connectors.payments.simulator import StripeAPIError

    state = PaymentsState(clock=lambda: float(NOW))
    inner: list[StripeAPIError] = []

    def overlap() -> None:
        state.hold_in_flight = None
        with pytest.raises(StripeAPIError) as err:
            state.idempotent("k-1", "same", lambda: (200, {"id": "re_2"}))
        inner.append(err.value)

    state.hold_in_flight = overlap
    status, body, replayed = state.idempotent("k-1", "same", lambda: (200, {"id": "re_1"}))
    assert (status, body, replayed) == (200, {"id": "re_1"}, False)
    assert inner[0].status == 409 and inner[0].code == "idempotency_key_in_use"
    assert inner[0].headers == {"Stripe-Should-Retry": "true"}
    assert state.idempotent("k-1", "same", lambda: (200, {"id": "re_3"}))[1:] == ({"id": "re_1"}, True)


@pytest.mark.parametrize(
    ("currency", "amount", "left"),
    [("kwd", "KWD 5.130", "KWD 5.120"), ("jpy", "¥5130", "¥5120"), ("xof", "XOF 5130", "XOF 5120")],
)
def test_a_refund_over_what_is_left_is_quoted_in_the_currency_s_decimals(
    currency: str, amount: str, left: str
) -> None:
    """Stripe quotes amounts in its own messages as the currency writes them: 5120 is 5.120 KWD."""
    from connectors.payments.simulator import StripeAPIError

    state = PaymentsState(clock=lambda: float(NOW))
    customer = state.add_customer(name="Noor", email="noor@example.com", currency=currency)
    charge = state.add_charge(customer_id=customer["id"], amount=5120, currency=currency, description="x")
    with pytest.raises(StripeAPIError) as err:
        state.create_refund({"charge": charge["id"], "amount": "5130"})
    assert err.value.code == "amount_too_large"
    assert f"({amount}) is greater than unrefunded amount on charge ({left})" in str(err.value)
