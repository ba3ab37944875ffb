"""A ShipStation connection's URL token is compared as it was set and as it appears in the URL.

The token is read from the query percent-decoded as a URL path is, not as a form: a `+` stays a
`+`. A token made the common way (`openssl rand -base64 24`: letters, digits, `+`, `/`, `=`)
pasted into `?token=` as the README says is accepted (202).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from app.services.webhook_secrets import set_webhook_url_token
from connectors.warehouse import webhooks as shipstation


def _delivery(warehouse: Any) -> tuple[bytes, dict[str, str]]:
    label = next(iter(warehouse.labels))
    body = json.dumps(
        {
            "resource_url": f"https://api.shipstation.com/v2/labels/{label}/track",
            "resource_type": "API_TRACK",
            "data": {"label_id": label, "tracking_number": "1Z999", "status_code": "IT"},
        },
        separators=(",", ":"),
    ).encode()
    stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return body, shipstation.sign(body, warehouse.key, warehouse.kid, stamp)


async def test_control_a_url_safe_token_is_accepted(world: Any) -> None:
    sy, api, _ = world
    set_webhook_url_token(sy.c.db, sy.c.box, "warehouse", "Zm9vYmFyYmF6cXV4MTIzNDU2", "test")
    body, headers = _delivery(sy.state("warehouse"))
    r = await api.post(
        "/api/v1/webhooks/warehouse?token=Zm9vYmFyYmF6cXV4MTIzNDU2", content=body, headers=headers
    )
    assert r.status_code == 202, r.text


async def test_a_base64_token_pasted_into_the_url_is_accepted(world: Any) -> None:
    sy, api, _ = world
    token = "q8+Lk2/xP0w+7Tz1mN4bYc=="  # as `openssl rand -base64 18` prints one
    set_webhook_url_token(sy.c.db, sy.c.box, "warehouse", token, "test")
    body, headers = _delivery(sy.state("warehouse"))
    r = await api.post(f"/api/v1/webhooks/warehouse?token={token}", content=body, headers=headers)
    assert r.status_code == 202, (
        f"ShipStation calling the URL it was given (?token={token}, the connection's own token) "
        f"was refused: {r.status_code} {r.text}"
    )
