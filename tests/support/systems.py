"""Every shipped system's simulator served over real loopback HTTP under /sim/<name>/,
with the demo's connections pointing at them: the same wiring `switchboard demo` uses."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.routing import Mount, Router

from app.demo import DEMO_PAYMENTS_WEBHOOK_SECRET, ensure_connections, wire_webhooks
from app.llm.base import Model
from app.main import Container
from app.services.auth import create_token
from connectors.payments import webhooks as stripe
from connectors.shop.simulator import ShopState
from connectors.simulators import SIMULATORS
from tests.support.app import settings
from tests.support.loopback import LoopbackServer


@dataclass
class Systems:
    c: Container
    sims: dict[str, Any]
    url: str

    def state(self, name: str) -> Any:
        return getattr(self.sims[name].state, name if name != "mcp" else "inventory")

    def snapshot(self) -> dict[str, str]:
        """Every simulator's state as its /_state shows it (what a write would change)."""
        out = {}
        for name in self.sims:
            r = httpx.get(f"{self.url}/sim/{name}/_state", timeout=10)
            if r.status_code == 200:
                out[name] = json.dumps(r.json(), sort_keys=True, default=str)
        return out

    @property
    def shop(self) -> ShopState:
        state: ShopState = self.sims["shop"].state.shop
        return state

    def charge(self, email: str, amount: int, *, captured: bool = True) -> str:
        """A card payment in the payments system, as the store's checkout would make it."""
        payments = self.sims["payments"].state.payments
        customer = next(c for c in payments.customers.values() if c["email"] == email)
        charge = payments.add_charge(
            customer_id=customer["id"], amount=amount, currency="usd", description="Shop order"
        )
        if not captured:
            payments.charges[charge["id"]]["captured"] = False
        return str(charge["id"])

    def order_paid(
        self, email: str, items: list[tuple[str, int]], charge: str
    ) -> tuple[dict[str, Any], bytes, dict[str, str]]:
        """A checkout in the shop; returns the order and its signed orders/paid webhook."""
        order = self.shop.place_order(
            email, [{"sku": s, "quantity": q} for s, q in items], payment_reference=charge
        )
        paid = [(b, h) for topic, b, h in self.shop.take_outbox() if topic == "orders/paid"]
        return order, *paid[0]

    def dispute(
        self, charge: str, dispute_id: str, amount: int = 12900, currency: str = "usd"
    ) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(
            {
                "id": f"evt_{dispute_id}",
                "type": "charge.dispute.created",
                "data": {
                    "object": {
                        "id": dispute_id,
                        "object": "dispute",
                        "amount": amount,
                        "currency": currency,
                        "charge": charge,
                        "reason": "fraudulent",
                    }
                },
            }
        ).encode()
        return body, {"Stripe-Signature": stripe.sign(body, DEMO_PAYMENTS_WEBHOOK_SECRET, int(time.time()))}

    def tokens(self, *people: tuple[str, str]) -> dict[str, dict[str, str]]:
        return {
            name: {"Authorization": f"Bearer {create_token(self.c.db, name, role)[1]}"}
            for name, role in people
        }


@contextmanager
def systems(db_url: str, data_dir: Path, model: Model | None = None, **extra: Any) -> Iterator[Systems]:
    sims = {kind: factory() for kind, factory in SIMULATORS.items()}
    router = Router([Mount(f"/sim/{name}", app=app) for name, app in sims.items()])
    with LoopbackServer(router) as server:
        c = Container(settings(db_url, data_dir, **extra), model_override=model)
        c.db.upgrade()
        ensure_connections(c, server.url)
        wire_webhooks(c, sims, server.url)
        try:
            yield Systems(c, sims, server.url)
        finally:
            c.db.dispose()  # a shared PostgreSQL server has few connections to spare
