"""HubSpot webhooks: the v3 signature as HubSpot documents it, checked against digests computed
here with hmac directly (not with our own `sign`), and the batch body read event by event.

Vendor definition: developers.hubspot.com "Validating requests" (v3: base64 HMAC-SHA256 of
method + URI + body + X-HubSpot-Request-Timestamp, the URI's listed encodings decoded, five
minutes), HubSpot/hubspot-api-python `Signature.get_signature`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from connectors.crm import webhooks as hubspot
from connectors.registry import connector_type
from connectors.webhooks import PayloadError, SignatureError

SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
URL = "https://www.example.com/webhook_uri"
STAMP = "1790000001000"
NOW = 1790000001000 + 1500  # 1.5 s after HubSpot signed
# The body of HubSpot's own v1 example delivery.
BODY = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM",'
    b'"changeFlag":"NEW","appId":54321}]'
)


def expected(method: str, uri: str, body: bytes, stamp: str) -> str:
    """The documented algorithm, spelled out: no code of ours."""
    source = f"{method}{uri}".encode() + body + stamp.encode()
    return base64.b64encode(hmac.new(SECRET.encode(), source, hashlib.sha256).digest()).decode()


def headers(signature: str, stamp: str = STAMP) -> dict[str, str]:
    return {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": stamp}


def test_an_independently_computed_signature_is_accepted() -> None:
    good = expected("POST", URL, BODY, STAMP)
    assert hubspot.sign(SECRET, "POST", URL, BODY, STAMP) == good
    hubspot.check(BODY, headers(good), SECRET, method="POST", url=URL, now_ms=NOW)
    # header names are case-insensitive, as HTTP has them
    hubspot.check(
        BODY, {k.lower(): v for k, v in headers(good).items()}, SECRET, method="POST", url=URL, now_ms=NOW
    )


def test_the_uri_is_signed_with_the_listed_encodings_decoded_and_no_others() -> None:
    called = "https://sb.example/api/v1/webhooks/crm?portal=a%3Ab%2Fc%40d&note=x%20y%26z"
    # %3A %2F %40 are in HubSpot's table; %20 and %26 are not, so they stay encoded
    signed_as = "https://sb.example/api/v1/webhooks/crm?portal=a:b/c@d&note=x%20y%26z"
    good = expected("POST", signed_as, BODY, STAMP)
    hubspot.check(BODY, headers(good), SECRET, method="POST", url=called, now_ms=NOW)
    assert hubspot.signed_uri("%3a%2f") == ":/"  # lower-case hex decodes too


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"secret": "another secret"}, "does not match"),
        ({"body": BODY.replace(b'"objectId":123', b'"objectId":124')}, "does not match"),
        ({"url": "http://www.example.com/webhook_uri"}, "another URL than HubSpot called"),
        ({"method": "PUT"}, "does not match"),
        ({"now": NOW + 300_000}, "302 s old"),
        ({"now": NOW - 400_000}, "in the future"),
    ],
)
def test_a_changed_delivery_is_refused_naming_why(change: dict[str, object], message: str) -> None:
    good = expected("POST", URL, BODY, STAMP)
    with pytest.raises(SignatureError, match=message):
        hubspot.check(
            change.get("body", BODY),  # type: ignore[arg-type]
            headers(good),
            str(change.get("secret", SECRET)),
            method=str(change.get("method", "POST")),
            url=str(change.get("url", URL)),
            now_ms=float(change.get("now", NOW)),  # type: ignore[arg-type]
        )


def test_missing_and_malformed_headers_are_named() -> None:
    good = expected("POST", URL, BODY, STAMP)
    cases = [
        ({"X-HubSpot-Request-Timestamp": STAMP}, "no X-HubSpot-Signature-v3 header"),
        ({"X-HubSpot-Signature": "abc", "X-HubSpot-Signature-Version": "v1"}, "only the v1 signature"),
        ({"X-HubSpot-Signature-v3": good}, "no X-HubSpot-Request-Timestamp header"),
        (headers(good, stamp="yesterday"), "not Unix time in milliseconds"),
        # digits by str.isdigit() but not ASCII: refused as malformed, never a 500 from int()
        (headers(good, stamp="179\u00b2"), "not Unix time in milliseconds"),
        (headers(good, stamp="\u0661\u0662\u0663"), "not Unix time in milliseconds"),
    ]
    for given, message in cases:
        with pytest.raises(SignatureError, match=message):
            hubspot.check(BODY, given, SECRET, method="POST", url=URL, now_ms=NOW)
    with pytest.raises(SignatureError, match="URL is unknown"):
        hubspot.check(BODY, headers(good), SECRET, method="POST", url="", now_ms=NOW)


def test_the_connector_verifies_with_the_request_it_is_handed() -> None:
    crm = connector_type("crm")
    sent = hubspot.signed_headers(SECRET, "POST", URL, BODY, 10**13)  # far from now: stale
    with pytest.raises(SignatureError, match="in the future"):
        crm.verify_webhook(BODY, sent, SECRET, method="POST", url=URL)
    import time

    now = int(time.time() * 1000)
    crm.verify_webhook(
        BODY, hubspot.signed_headers(SECRET, "POST", URL, BODY, now), SECRET, method="POST", url=URL
    )
    assert "deal.propertyChange" in crm.events and "contact.creation" in crm.events


def test_each_event_of_a_batch_is_its_own_event() -> None:
    batch = [
        *json.loads(BODY),
        {
            "eventId": 7,
            "subscriptionId": 900,
            "portalId": 62515,
            "occurredAt": 1564113600100,
            "subscriptionType": "deal.propertyChange",
            "attemptNumber": 2,
            "objectId": 9001,
            "propertyName": "dealstage",
            "propertyValue": "closedwon",
        },
        {
            "eventId": 8,
            "subscriptionId": 901,
            "portalId": 62515,
            "objectId": 5,
            "objectTypeId": "0-3",
            "subscriptionType": "object.creation",
        },
    ]
    events = connector_type("crm").parse_webhooks(json.dumps(batch).encode(), {})
    assert [e.type for e in events] == [
        "contact.creation",
        "deal.propertyChange",
        "deal.creation",  # a generic subscription's object type, by its id
    ]
    assert len({e.id for e in events}) == 3
    assert events[1].data is not None and events[1].data["propertyValue"] == "closedwon"
    assert all(e.intake is None for e in events)  # HubSpot sends ids, not a ticket: workflows only


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (b"{}", "body", "JSON array"),
        (b"[]", "body", "1 to 100 events"),
        (json.dumps([{"eventId": i} for i in range(101)]).encode(), "body", "this one 101"),
        (b"[1]", "[0]", "JSON object"),
        (b'[{"eventId": 1, "portalId": 2, "objectId": 3}]', "[0].subscriptionType", "name the event"),
        (
            b'[{"subscriptionType": "contact.creation", "portalId": 2, "objectId": 3}]',
            "[0].eventId",
            "missing",
        ),
        (
            b'[{"subscriptionType": "contact.creation", "eventId": [1], "portalId": 2, "objectId": 3}]',
            "[0].eventId",
            "string or a whole number",
        ),
    ],
)
def test_a_body_not_in_hubspots_shape_names_the_field(body: bytes, field: str, message: str) -> None:
    with pytest.raises(PayloadError, match=message) as bad:
        hubspot.parse(body)
    assert bad.value.field == field


def test_a_redelivery_is_the_same_event_and_a_reused_event_id_is_not() -> None:
    """HubSpot says eventId is not guaranteed unique: two events that share portal, subscription
    and eventId but not their object or time are two events; a retry (attemptNumber moves) is one."""
    crm = connector_type("crm")
    [first] = json.loads(BODY)
    retry = {**first, "attemptNumber": 3}
    other = {**first, "objectId": 124, "occurredAt": first["occurredAt"] + 5}

    def key(event: dict[str, object]) -> str | None:
        [parsed] = crm.parse_webhooks(json.dumps([event]).encode(), {})
        return parsed.id

    assert key(retry) == key(first)
    assert key(other) != key(first)
    # no two different sets of values spell one key (as "1:2" + "3" and "1" + "2:3" would)
    a = {**first, "subscriptionId": "5:1", "eventId": 2}
    b = {**first, "subscriptionId": 5, "eventId": "1:2"}
    assert key(a) != key(b)
