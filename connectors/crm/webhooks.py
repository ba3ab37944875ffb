"""HubSpot webhook signatures (v3) and event batches.

HubSpot signs each delivery with the app's client secret:

    X-HubSpot-Request-Timestamp: 1790000001000          (Unix time in milliseconds)
    X-HubSpot-Signature-v3: base64(HMAC-SHA256(secret, method + uri + body + timestamp))

`uri` is the full URL HubSpot called (scheme, host, path, query) with these
percent-encodings decoded first: %3A : %2F / %3F ? %40 @ %21 ! %24 $ %27 ' %28 ( %29 )
%2A * %2C , %3B ;  (and no others). A delivery older than five minutes is refused.
Because the URL is signed, the receiver must know the URL the vendor used, which behind
a proxy is not the one the server sees (`SWITCHBOARD_PUBLIC_URL`). HubSpot also sends the
older `X-HubSpot-Signature` (v1: hex SHA-256 of secret + body); it signs no time, so a
captured delivery could be replayed forever, and it is not accepted on its own.

The body is a JSON array of up to 100 events (`eventId`, `subscriptionId`, `portalId`,
`appId`, `occurredAt` in ms, `subscriptionType` such as `contact.creation` or
`deal.propertyChange`, `attemptNumber` from 0, `objectId`, and for property changes
`propertyName`/`propertyValue`). HubSpot says an `eventId` is not guaranteed unique and
that an event may come more than once, so an event is known by portal, subscription and
event id together with a digest of its own fields (type, object, time, property change); a
retry carries the same (and a higher `attemptNumber`, which is left out of the key).

Sources: developers.hubspot.com "Validating requests" (v3 section and its decoding table),
"Webhooks API" (payload fields, batching); HubSpot/hubspot-api-python
`hubspot/utils/signature.py` (`Signature.get_signature`, `MAX_ALLOWED_TIMESTAMP = 300`).

Pure (no FastAPI, no httpx): the CRM connector verifies and reads deliveries with it and
the CRM simulator signs with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from typing import Any

from connectors import webhooks as base
from connectors.webhooks import PayloadError, WebhookEvent

SIGNATURE = "X-HubSpot-Signature-v3"
TIMESTAMP = "X-HubSpot-Request-Timestamp"
TOLERANCE_MS = 5 * 60 * 1000
MAX_EVENTS = 100
# The only percent-encodings HubSpot decodes in the URI before signing.
_DECODED = re.compile(r"%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)", re.IGNORECASE)
# Generic (`object.*`) subscriptions name the object type by id; the CRM's own objects by name.
OBJECT_TYPE_IDS = {"0-1": "contact", "0-2": "company", "0-3": "deal", "0-46": "note"}
CHANGES = ("creation", "deletion", "propertyChange", "merge", "restore", "associationChange")
EVENTS = (*(f"{o}.{c}" for o in ("contact", "company", "deal") for c in CHANGES), "contact.privacyDeletion")


class SignatureError(base.SignatureError):
    """The delivery is not provably from HubSpot, or too old; the message says which check failed."""


def signed_uri(url: str) -> str:
    """The URI as HubSpot puts it in the signed string: the twelve listed encodings decoded."""
    return _DECODED.sub(lambda m: bytes.fromhex(m.group(1)).decode(), url)


def sign(secret: str, method: str, url: str, body: bytes, timestamp: str) -> str:
    """The `X-HubSpot-Signature-v3` value for a request HubSpot sends to `url` at `timestamp` (ms)."""
    source = method.upper().encode() + signed_uri(url).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def signed_headers(secret: str, method: str, url: str, body: bytes, timestamp_ms: int) -> dict[str, str]:
    """The headers HubSpot sends with a webhook delivery (v3, and v1 for older receivers)."""
    stamp = str(int(timestamp_ms))
    return {
        "Content-Type": "application/json",
        SIGNATURE: sign(secret, method, url, body, stamp),
        TIMESTAMP: stamp,
        "X-HubSpot-Signature": hashlib.sha256(secret.encode() + body).hexdigest(),
        "X-HubSpot-Signature-Version": "v1",
    }


_MILLIS = re.compile(r"[0-9]{1,16}")


def check(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    method: str,
    url: str,
    now_ms: float | None = None,
) -> None:
    """Raise SignatureError unless the delivery carries HubSpot's v3 signature over this
    method, URL, body and a timestamp within five minutes."""
    lowered = base.lowered(headers)
    given = lowered.get(SIGNATURE.lower(), "").strip()
    stamp = lowered.get(TIMESTAMP.lower(), "").strip()
    if not given:
        hint = " (only the v1 signature came, which signs no time and is not accepted)"
        raise SignatureError(f"no {SIGNATURE} header{hint if 'x-hubspot-signature' in lowered else ''}")
    if not stamp:
        raise SignatureError(f"no {TIMESTAMP} header")
    if not secret:
        raise SignatureError("no client secret is configured for this HubSpot app")
    if not url:
        raise SignatureError("the request URL is unknown, and HubSpot signs it")
    if not _MILLIS.fullmatch(stamp):  # ASCII digits only: str.isdigit() takes '²' and '١٢٣'.
        raise SignatureError(f"{TIMESTAMP} is not Unix time in milliseconds: {stamp[:40]!r}")
    age = (time.time() * 1000 if now_ms is None else now_ms) - int(stamp)
    if abs(age) > TOLERANCE_MS:
        when = "old" if age > 0 else "in the future"
        raise SignatureError(
            f"request timestamp is {abs(age) / 1000:.0f} s {when}; more than 300 s is refused "
            "(a replay, or a wrong clock)"
        )
    if not hmac.compare_digest(sign(secret, method, url, body, stamp).encode(), given.encode()):
        raise SignatureError(
            "signature does not match: wrong client secret, a changed body, or another URL than "
            f"HubSpot called (checked against {url}; set SWITCHBOARD_PUBLIC_URL behind a proxy)"
        )


def parse(body: bytes) -> list[WebhookEvent]:
    """Each event of the batch, in order; none brings an item to triage (HubSpot sends ids,
    not content), so they start workflows only."""
    try:
        batch = json.loads(body)
    except ValueError:
        raise PayloadError("webhook body is not valid JSON") from None
    if not isinstance(batch, list):
        raise PayloadError("a HubSpot delivery is a JSON array of events, not " + type(batch).__name__)
    if not 1 <= len(batch) <= MAX_EVENTS:
        raise PayloadError(f"a HubSpot delivery carries 1 to {MAX_EVENTS} events, this one {len(batch)}")
    return [_event(item, f"[{i}]") for i, item in enumerate(batch)]


def _event(item: Any, at: str) -> WebhookEvent:
    if not isinstance(item, dict):
        raise PayloadError(f"{at} must be a JSON object, not {type(item).__name__}", field=at)
    # The docs' field table calls it `eventType`; every delivery shown names it `subscriptionType`.
    kind = item.get("subscriptionType") or item.get("eventType")
    if not isinstance(kind, str) or "." not in kind:
        raise PayloadError(
            f"{at}.subscriptionType must name the event, e.g. contact.creation",
            field=f"{at}.subscriptionType",
        )
    for name in ("eventId", "portalId", "objectId"):
        if base.text_id(item.get(name), f"{at}.{name}") is None:
            raise PayloadError(f"{at}.{name} is missing", field=f"{at}.{name}")
    subject, _, change = kind.partition(".")
    if subject == "object":  # a generic subscription: the object type comes by id
        subject = OBJECT_TYPE_IDS.get(str(item.get("objectTypeId")), subject)
    return WebhookEvent(f"{subject}.{change}", _key(item), dict(item))


# What a redelivery keeps and two events do not share. HubSpot says eventId alone is not
# unique, so the event's own facts are part of the key; attemptNumber is not (a retry moves it).
_KEY_FIELDS = (
    "portalId",
    "subscriptionId",
    "eventId",
    "subscriptionType",
    "objectTypeId",
    "objectId",
    "occurredAt",
    "propertyName",
    "propertyValue",
    "changeSource",
)


def _key(item: dict[str, Any]) -> str:
    """The event's identity for deduplication: portal, subscription and event id to read, then a
    digest of every field above as a JSON list, so no two different events, nor two different
    combinations of values (a joined '1:2' + '3' and '1' + '2:3'), spell the same key."""
    fields = json.dumps([item.get(name) for name in _KEY_FIELDS], sort_keys=True, default=str)
    readable = ":".join(str(item.get(n, "")) for n in ("portalId", "subscriptionId", "eventId"))
    return f"{readable}:{hashlib.sha256(fields.encode()).hexdigest()[:24]}"
