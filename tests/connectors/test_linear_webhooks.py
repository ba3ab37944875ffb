"""Linear webhooks: `Linear-Signature` as Linear defines it, checked against a digest computed
here with hmac directly, the `webhookTimestamp` window, and the payload read into one event.

Vendor definition: linear.app/developers/webhooks, and @linear/sdk `LinearWebhookClient.verify`
(hex HMAC-SHA256 of the raw body, `webhookTimestamp` within 60 s).
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from connectors.registry import connector_type
from connectors.tracker import webhooks as linear
from connectors.webhooks import PayloadError, SignatureError

SECRET = "lin_wh_unit_secret"
SENT = 1_790_000_000_000


def payload(**changes: object) -> dict[str, object]:
    return {
        "action": "create",
        "actor": {"id": "u1", "name": "Ann Lee", "type": "user"},
        "createdAt": "2026-09-21T10:00:00.000Z",
        "data": {
            "id": "2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9",
            "identifier": "ENG-7",
            "title": "Crash on login",
        },
        "url": "https://linear.app/acme/issue/ENG-7/crash-on-login",
        "type": "Issue",
        "organizationId": "org-1",
        "webhookId": "wh-1",
        "webhookTimestamp": SENT,
        **changes,
    }


def body_of(p: dict[str, object]) -> bytes:
    return json.dumps(p, separators=(",", ":")).encode()


def test_an_independently_computed_signature_is_accepted() -> None:
    body = body_of(payload())
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert linear.sign(body, SECRET) == digest
    linear.check(body, {"linear-signature": digest}, SECRET, now_ms=SENT + 59_000)
    linear.check(body, {"Linear-Signature": digest.upper()}, SECRET, now_ms=SENT)  # hex case does not matter


@pytest.mark.parametrize(
    ("body", "secret", "now", "message"),
    [
        (body_of(payload()), "another secret", SENT, "does not match"),
        (body_of(payload(type="Comment")), SECRET, SENT, "does not match"),
        (body_of(payload()), SECRET, SENT + 61_000, "61 s old"),
        (body_of(payload()), SECRET, SENT - 61_000, "in the future"),
    ],
)
def test_a_changed_or_stale_delivery_is_refused(body: bytes, secret: str, now: int, message: str) -> None:
    signed = linear.sign(body_of(payload()), SECRET)
    with pytest.raises(SignatureError, match=message):
        linear.check(body, {"Linear-Signature": signed}, secret, now_ms=now)


def test_missing_signature_or_timestamp_is_named() -> None:
    body = body_of(payload())
    with pytest.raises(SignatureError, match="no Linear-Signature header"):
        linear.check(body, {"Linear-Event": "Issue"}, SECRET, now_ms=SENT)
    bare = {k: v for k, v in payload().items() if k != "webhookTimestamp"}
    with pytest.raises(SignatureError, match="no webhookTimestamp"):
        linear.check(
            body_of(bare), {"Linear-Signature": linear.sign(body_of(bare), SECRET)}, SECRET, now_ms=SENT
        )
    # Python's json reads NaN and Infinity; no age can be told from either, so neither passes
    for odd in (b"NaN", b"Infinity", b"-Infinity"):
        body = body_of(payload()).replace(str(SENT).encode(), odd)
        assert odd in body
        with pytest.raises(SignatureError, match="no webhookTimestamp"):
            linear.check(body, {"Linear-Signature": linear.sign(body, SECRET)}, SECRET, now_ms=SENT)


def test_an_event_is_type_dot_action_known_by_signed_fields_not_the_delivery_header() -> None:
    tracker = connector_type("tracker")
    first = tracker.parse_webhook(body_of(payload()), {"Linear-Delivery": "d-1"})
    retry = tracker.parse_webhook(
        body_of(payload(webhookTimestamp=SENT + 3_600_000)), {"Linear-Delivery": "d-2"}
    )
    assert first.type == "Issue.create" and first.id == retry.id
    assert first.id == "wh-1:Issue:create:2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9:2026-09-21T10:00:00.000Z"
    assert first.data is not None and first.data["data"]["title"] == "Crash on login" and first.intake is None
    later = tracker.parse_webhook(body_of(payload(action="update", createdAt="2026-09-21T10:05:00.000Z")), {})
    assert later.type == "Issue.update" and later.id != first.id
    assert "Issue.create" in tracker.events and "Comment.create" in tracker.events


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": None}, "type"),
        ({"action": 3}, "action"),
        ({"webhookId": ""}, "webhookId"),
        ({"data": []}, "data"),
        ({"data": {"title": "no id"}}, "data.id"),
    ],
)
def test_a_body_not_in_linears_shape_names_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(PayloadError) as bad:
        linear.parse(body_of(payload(**change)))
    assert bad.value.field == field
