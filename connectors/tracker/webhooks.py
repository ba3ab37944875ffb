"""Linear webhook signatures and payloads.

Linear signs every delivery with the webhook's signing secret:

    Linear-Signature: hex(HMAC-SHA256(secret, raw body))

and puts the send time in the signed body, not in a header: `webhookTimestamp`, Unix time in
milliseconds. A delivery more than 60 s from now is refused (the @linear/sdk
`LinearWebhookClient.verify` check). The SDK skips that check when the field is absent; here
it is required, or a captured body without it could be replayed forever.

The body is one event: `action` (create, update, remove, ...), `type` (Issue, Comment,
IssueLabel, Project, Cycle, ...), `data` (the entity), `url`, `createdAt`, `organizationId`,
`webhookId`, `webhookTimestamp`, and `updatedFrom` on updates. `Linear-Event` (the type) and
`Linear-Delivery` (a UUID) come as headers, which the signature does not cover: the event is
named and identified by signed fields only (webhook, type, action, entity id, and the
payload's `createdAt`, which a retry keeps while its `webhookTimestamp` moves on).

Sources: linear.app/developers/webhooks ("Securing webhooks", headers, payload), linear/linear
`packages/sdk/src/webhooks/client.ts` (`LINEAR_WEBHOOK_SIGNATURE_HEADER = "linear-signature"`,
`LINEAR_WEBHOOK_TS_FIELD = "webhookTimestamp"`, hex digest, 60 s window) and the schema's
`BaseWebhookPayload` / `EntityWebhookPayload` fields.

Pure (no FastAPI, no httpx): the tracker connector verifies and reads deliveries with it and
the tracker simulator signs with it.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
import uuid
from collections.abc import Mapping

from connectors import webhooks as base
from connectors.webhooks import PayloadError, WebhookEvent

SIGNATURE = "Linear-Signature"
TIMESTAMP_FIELD = "webhookTimestamp"
TOLERANCE_MS = 60 * 1000
ENTITIES = ("Issue", "Comment", "IssueLabel", "Project", "Cycle")
EVENTS = tuple(f"{t}.{a}" for t in ENTITIES for a in ("create", "update", "remove"))
REQUIRED = ("action", "type", "createdAt", "organizationId", "webhookId")


class SignatureError(base.SignatureError):
    """The delivery is not provably from Linear, or not fresh; the message says which check failed."""


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_headers(body: bytes, secret: str, *, event: str, delivery: str | None = None) -> dict[str, str]:
    """The headers Linear sends with `body` (for the simulator and tests)."""
    return {
        "Content-Type": "application/json; charset=utf-8",
        SIGNATURE: sign(body, secret),
        "Linear-Event": event,
        "Linear-Delivery": delivery or str(uuid.uuid4()),
        "User-Agent": "Linear-Webhook",
    }


def check(body: bytes, headers: Mapping[str, str], secret: str, *, now_ms: float | None = None) -> None:
    """Raise SignatureError unless the body is signed with `secret` and sent within 60 s."""
    given = base.lowered(headers).get(SIGNATURE.lower(), "").strip()
    if not given:
        raise SignatureError(f"no {SIGNATURE} header: the request was not signed by Linear")
    if not secret:
        raise SignatureError("no signing secret is configured for this Linear webhook")
    if not hmac.compare_digest(sign(body, secret).encode(), given.lower().encode()):
        raise SignatureError("signature does not match: wrong signing secret, or the body was changed")
    stamp = base.json_object(body).get(TIMESTAMP_FIELD)
    if isinstance(stamp, bool) or not isinstance(stamp, int | float) or not math.isfinite(stamp):
        raise SignatureError(
            f"the signed body has no {TIMESTAMP_FIELD} (Unix ms), so a replay cannot be told"
        )
    age = (time.time() * 1000 if now_ms is None else now_ms) - stamp
    if abs(age) > TOLERANCE_MS:
        when = "old" if age > 0 else "in the future"
        raise SignatureError(
            f"{TIMESTAMP_FIELD} is {abs(age) / 1000:.0f} s {when}; more than 60 s is refused "
            "(a replay, or a wrong clock)"
        )


def parse(body: bytes) -> WebhookEvent:
    """The event as `Issue.create`, `Comment.update`, ...; a workflow sees the payload as
    Linear sent it (`event.data.title`, `event.updatedFrom`). It starts workflows only: an
    issue is the team's own work, not a customer's ticket to triage."""
    payload = base.json_object(body)
    for name in REQUIRED:
        if not isinstance(payload.get(name), str) or not payload[name]:
            raise PayloadError(f"{name} is missing or not a string", field=name)
    data = base.object_at(payload.get("data"), "data")
    entity = base.text_id(data.get("id"), "data.id") if "data" in payload else ""
    if entity is None:
        raise PayloadError("data.id is missing", field="data.id")
    kind = f"{payload['type']}.{payload['action']}"
    key = (
        ":".join(str(payload[n]) for n in ("webhookId", "type", "action"))
        + f":{entity}:{payload['createdAt']}"
    )
    return WebhookEvent(kind, key, payload)
