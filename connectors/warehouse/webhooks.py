"""ShipStation (API v2, formerly ShipEngine) webhook signatures: RSA-SHA256.

Every webhook carries `x-shipengine-rsa-sha256-key-id`, `x-shipengine-rsa-sha256-signature`
(base64) and `x-shipengine-timestamp`. The signature covers `"{timestamp}.{raw body}"`
and is checked with the public key of that key id, published as a JSON Web Key Set
(https://api.shipengine.com/jwks). The connection stores that key set (its JSON) as its
webhook secret; nothing secret is needed to verify, only the right public key. A
timestamp more than five minutes away is refused (replays).

Pure (no FastAPI, no httpx): the warehouse connector verifies and reads deliveries with
it and the warehouse simulator signs.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from connectors import webhooks as base
from connectors.webhooks import PayloadError, WebhookEvent

KEY_ID = "x-shipengine-rsa-sha256-key-id"
SIGNATURE = "x-shipengine-rsa-sha256-signature"
TIMESTAMP = "x-shipengine-timestamp"
DEFAULT_TOLERANCE = 300
# resource_type in the body -> the event a workflow subscribes to
EVENTS = {"API_TRACK": "track", "SHIPMENT_CANCELLED": "shipment_cancelled", "LABEL_CREATED": "label_created"}


class SignatureError(base.SignatureError):
    """The webhook is not from the warehouse, or too old."""


def _b64url_int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def _b64url(n: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


def jwks(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    """The public half of `key` as a JSON Web Key Set, as ShipStation publishes its keys."""
    numbers = key.public_key().public_numbers()
    return {
        "keys": [
            {
                "kty": "RSA",
                "kid": kid,
                "use": "sig",
                "alg": "RS256",
                "n": _b64url(numbers.n),
                "e": _b64url(numbers.e),
            }
        ]
    }


def sign(body: bytes, key: rsa.RSAPrivateKey, kid: str, timestamp: str) -> dict[str, str]:
    signature = key.sign(timestamp.encode() + b"." + body, padding.PKCS1v15(), hashes.SHA256())
    return {
        "Content-Type": "application/json",
        "x-shipengine-rsa-sha256-key-id": kid,
        "x-shipengine-rsa-sha256-signature": base64.b64encode(signature).decode(),
        "x-shipengine-timestamp": timestamp,
    }


def _public_key(key_set: str, kid: str) -> rsa.RSAPublicKey:
    try:
        data = json.loads(key_set)
    except ValueError:
        raise SignatureError("the stored webhook key set is not JSON (paste ShipStation's JWKS)") from None
    keys = data.get("keys") if isinstance(data, dict) else None
    for jwk in keys or []:
        if isinstance(jwk, dict) and jwk.get("kid") == kid and jwk.get("kty") == "RSA":
            return rsa.RSAPublicNumbers(_b64url_int(jwk["e"]), _b64url_int(jwk["n"])).public_key()
    raise SignatureError(f"no public key {kid!r} in the stored key set: refresh it from the JWKS")


def check(
    body: bytes,
    headers: Mapping[str, str],
    key_set: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Raise SignatureError unless the key set's key signed `"{timestamp}.{body}"` recently."""
    lowered = base.lowered(headers)
    kid, signature, timestamp = lowered.get(KEY_ID), lowered.get(SIGNATURE), lowered.get(TIMESTAMP)
    if not kid or not signature or not timestamp:
        raise SignatureError("missing x-shipengine-rsa-sha256 signature, key id or timestamp header")
    try:
        raw = base64.b64decode(signature, validate=True)
    except ValueError:
        raise SignatureError("the signature is not base64") from None
    try:
        _public_key(key_set, kid).verify(
            raw, timestamp.encode() + b"." + body, padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        raise SignatureError(
            "signature does not match: a different key signed it, or the body was changed"
        ) from None
    try:
        sent = datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise SignatureError(f"timestamp {timestamp!r} is not ISO 8601") from None
    if abs((now if now is not None else time.time()) - sent) > tolerance:
        raise SignatureError(
            f"timestamp {timestamp} is more than {tolerance} s away: a replay, or a wrong clock"
        )


def verify(
    body: bytes,
    headers: Mapping[str, str],
    key_set: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> dict[str, Any]:
    """Check signature and age; return the webhook body (`resource_url`, `resource_type`, `data`)."""
    check(body, headers, key_set, tolerance=tolerance, now=now)
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise PayloadError(f"the signed webhook body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadError("the signed webhook body is not a JSON object")
    return data


def parse(body: bytes) -> WebhookEvent:
    """A tracking update, cancellation or label: only workflows act on it. One event per
    label (or tracking number) and status, so a redelivery starts nothing new."""
    payload = base.json_object(body)
    resource = str(payload.get("resource_type") or "")
    raw = payload.get("data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    status = data.get("status_code") or ""
    event_id = f"{resource}:{data.get('label_id') or data.get('tracking_number')}:{status}"
    return WebhookEvent(EVENTS.get(resource, resource.lower()), event_id, data)
