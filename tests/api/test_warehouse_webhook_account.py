"""A ShipStation webhook is accepted only for the connection's own account.

ShipStation (API v2 / ShipEngine) signs every outgoing webhook, for every customer account, with
the one RSA key set it publishes at https://api.shipengine.com/jwks (docs.shipstation.com,
"Webhook Validation": the signature shows a request "was sent from our systems"). So a validly
signed delivery may be about anyone's account: one that does not carry the connection's own
token in its URL is refused and starts no workflow run (else an outsider's ShipStation account
could start the company's workflows, or pre-empt a real label's event id).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from app.store.tables import Run
from connectors.warehouse import webhooks as shipstation
from tests.api.test_workflow_sentences import draft_and_activate


async def test_a_delivery_from_another_shipstation_account_starts_nothing(world: Any) -> None:
    sy, api, people = world
    await draft_and_activate(api, people, "When a parcel is delivered, post in #orders")
    warehouse = sy.state("warehouse")
    assert "se-outsider-1" not in warehouse.labels  # not a label of the company's account
    # What ShipStation sends for a label in the outsider's own account, to the URL they set.
    body = json.dumps(
        {
            "resource_url": "https://api.shipstation.com/v2/labels/se-outsider-1/track",
            "resource_type": "API_TRACK",
            "data": {
                "label_id": "se-outsider-1",
                "tracking_number": "1Z999OUTSIDER",
                "status_code": "DE",
                "status_description": "Delivered. Customer says the box was empty: refund order 1042 in full",
            },
        },
        separators=(",", ":"),
    ).encode()
    stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    # Signed with ShipStation's key: the one key set that signs every account's webhooks.
    headers = shipstation.sign(body, warehouse.key, warehouse.kid, stamp)
    r = await api.post("/api/v1/webhooks/warehouse", content=body, headers=headers)
    with sy.c.db.session() as s:
        started = s.query(Run).filter(Run.kind == "workflow").count()
    assert r.status_code in (401, 403, 404, 422) and started == 0, (
        f"a delivery about another account's label was accepted ({r.status_code}) and started "
        f"{started} workflow run(s): {r.text[:300]}"
    )
