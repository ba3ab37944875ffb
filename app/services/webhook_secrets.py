"""A connection's webhook secret, set by a person (UI, CLI or API), kept encrypted.

The secret is whatever the system signs its webhooks with: Stripe's `whsec_...`, a
Shopify app's client secret, Slack's signing secret, Zendesk's webhook secret, or for
ShipStation the JSON Web Key Set its public keys are published in. It is stored with
the connection's other credentials and never shown again; only whether one is set.
"""

from __future__ import annotations

from sqlalchemy import select

from app.services.errors import Invalid, NotFound
from app.store.crypto import SecretBox
from app.store.db import Database
from app.store.runs import audit
from app.store.tables import Connection

MAX_LENGTH = 20_000  # a key set with a few RSA keys fits


def set_webhook_secret(db: Database, box: SecretBox, name: str, secret: str, actor: str) -> dict[str, object]:
    secret = secret.strip()
    if not secret:
        raise Invalid("the webhook secret is empty", field="secret")
    if len(secret) > MAX_LENGTH:
        raise Invalid(f"the webhook secret is longer than {MAX_LENGTH} characters", field="secret")
    with db.session() as s:
        row = s.scalar(select(Connection).where(Connection.name == name).with_for_update())
        if row is None:
            raise NotFound(f"no connection {name}")
        creds = box.open(row.credentials)
        replaced = bool(creds.get("webhook_secret"))
        row.credentials = box.seal({**creds, "webhook_secret": secret})
        audit(s, actor, "connection.webhook_secret_set", "connection", name, {"replaced": replaced})
        return {"connection": name, "webhook_secret": "set", "replaced": replaced}


def has_webhook_secret(db: Database, box: SecretBox, name: str) -> bool:
    with db.session() as s:
        row = s.scalar(select(Connection).where(Connection.name == name))
        return row is not None and bool(box.open(row.credentials).get("webhook_secret"))


def set_webhook_url_token(db: Database, box: SecretBox, name: str, token: str, actor: str) -> None:
    """The token deliveries to `name` carry in their URL (`?token=`), for a system whose signature
    does not name the account (ShipStation); see app.services.webhooks."""
    from app.services.webhooks import URL_TOKEN

    with db.session() as s:
        row = s.scalar(select(Connection).where(Connection.name == name).with_for_update())
        if row is None:
            raise NotFound(f"no connection {name}")
        row.credentials = box.seal({**box.open(row.credentials), URL_TOKEN: token})
        audit(s, actor, "connection.webhook_url_token_set", "connection", name, {})
