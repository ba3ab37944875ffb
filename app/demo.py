"""`switchboard demo`: the whole product in one process, with no key and no network.

SQLite in the data dir, the local model, every shipped connector's simulator
mounted under /sim/<name>/ on the same port (its connection points there over
loopback HTTP, as a real system would be reached), an in-process worker, and a
few seeded tickets triaged at start so the approval queue has work in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.panel import Panel
from sqlalchemy import select

from app.config import Settings
from app.main import Container
from app.services import intake
from app.services.auth import create_token
from app.services.connections import add_connection
from app.store.tables import Connection, Run
from connectors.registry import CONNECTOR_TYPES
from connectors.simulators import SIMULATORS

log = logging.getLogger("switchboard.demo")


@dataclass(frozen=True)
class DemoConnection:
    """One system of the demo: its connector kind, the simulator that plays it, and how to log in."""

    kind: str
    simulator: str
    auth_type: str = "none"
    credentials: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    path: str = ""


DEMO_CONNECTIONS: dict[str, DemoConnection] = {
    "helpdesk": DemoConnection(
        "helpdesk",
        "helpdesk",
        "zendesk_token",
        {"email": "switchboard@northwind.example", "token": "demo-helpdesk-token"},
    ),
    "payments": DemoConnection("payments", "payments", "bearer", {"token": "sk_test_demo"}),
    "crm": DemoConnection("crm", "crm", "bearer", {"token": "pat-demo"}),
    "chat": DemoConnection("chat", "chat", "bearer", {"token": "xoxb-demo"}),
    "tracker": DemoConnection(
        "tracker", "tracker", "api_key", {"key": "lin_api_demo"}, {"header": "Authorization"}
    ),
    "erp": DemoConnection(
        "erp", "erp", "basic", {"username": "switchboard", "password": "demo"}, path="/NorthwindERP.asmx"
    ),
    "petstore": DemoConnection(
        "openapi",
        "petstore",
        "api_key",
        {"key": "special-key"},
        {"spec": "petstore3", "header": "api_key"},
    ),
    "inventory": DemoConnection(
        "mcp", "mcp", config={"confirmed_read_only": ["lookup_sku", "search_products"]}, path="/mcp"
    ),
    "shop": DemoConnection(
        "shop", "shop", "api_key", {"key": "shpat_demo"}, {"header": "X-Shopify-Access-Token"}
    ),
    "warehouse": DemoConnection(
        "warehouse", "warehouse", "api_key", {"key": "TEST_demo"}, {"header": "API-Key"}
    ),
}
DEMO_SHOP_WEBHOOK_SECRET = "shpss_demo_webhook_secret"
SEED_TICKETS = 3


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def ensure_connections(c: Container, base: str) -> None:
    """One connection per demo system, pointing at this process; kept across restarts."""
    for name, demo in DEMO_CONNECTIONS.items():
        if demo.simulator not in SIMULATORS or demo.kind not in CONNECTOR_TYPES:
            continue
        url = f"{base}/sim/{demo.simulator}{demo.path}"
        with c.db.session() as s:
            row = s.scalar(select(Connection).where(Connection.name == name))
            if row is not None:
                row.base_url = url
                continue
        add_connection(
            c.db,
            c.box,
            name=name,
            kind=demo.kind,
            base_url=url,
            auth_type=demo.auth_type,
            credentials=demo.credentials,
            config=demo.config,
            owner="demo",
            actor="demo",
        )


# Channels the order and engineering workflows post to, beside the chat seed's own.
DEMO_CHANNELS = [
    ("C07ORDERS01", "orders", "Paid orders and shipments", "Where the order workflows post"),
    ("C07ENGINEER", "engineering", "Bugs customers report", "Issues filed from help-desk tickets"),
]


def link_shop_payments(shop: Any, payments: Any) -> None:
    """The store's seeded orders were paid through Stripe: give each its charge in the
    payments simulator (an authorized order's charge is not captured), so reading an
    order's payment leads to a real charge."""
    by_email = {c["email"]: c["id"] for c in payments.customers.values()}
    for order in sorted(shop.orders.values(), key=lambda o: o["id"]):
        [transaction] = shop.transactions[order["id"]][:1]
        customer = by_email.get(order["email"])
        if customer is None or str(transaction.get("authorization", "")) in payments.charges:
            continue
        charge = payments.add_charge(
            customer_id=customer,
            amount=round(float(order["total_price"]) * 100),
            currency="usd",
            description=f"Northwind Home order {order['name']}",
            metadata={"shopify_order_id": str(order["id"])},
        )
        if transaction["kind"] == "authorization":
            payments.charges[charge["id"]]["captured"] = False
        transaction["authorization"] = charge["id"]


def wire_webhooks(c: Container, sims: dict[str, Any], base: str) -> None:
    """The shop and the warehouse send their signed webhooks to this process, and the
    connections hold what verifies them, so a workflow triggers as it would in production."""
    from app.services.webhook_secrets import set_webhook_secret
    from connectors.chat.seed import BOT_USER_ID

    chat = getattr(getattr(sims.get("chat"), "state", None), "chat", None)
    if chat is not None:
        for cid, name, topic, purpose in DEMO_CHANNELS:
            if name not in {ch.get("name") for ch in chat.snapshot().get("channels", [])}:
                chat.add_channel(
                    channel_id=cid,
                    name=name,
                    topic=topic,
                    purpose=purpose,
                    members=[BOT_USER_ID],
                    creator=BOT_USER_ID,
                )

    shop = getattr(sims.get("shop"), "state", None)
    payments = getattr(getattr(sims.get("payments"), "state", None), "payments", None)
    if shop is not None and payments is not None:
        link_shop_payments(shop.shop, payments)
    if shop is not None:
        shop.shop.webhook.update(url=f"{base}/api/v1/webhooks/shop", secret=DEMO_SHOP_WEBHOOK_SECRET)
        set_webhook_secret(c.db, c.box, "shop", DEMO_SHOP_WEBHOOK_SECRET, "demo")
    warehouse = getattr(sims.get("warehouse"), "state", None)
    if warehouse is not None:
        warehouse.warehouse.webhook["url"] = f"{base}/api/v1/webhooks/warehouse"
        set_webhook_secret(c.db, c.box, "warehouse", json.dumps(warehouse.warehouse.jwks()), "demo")


async def seed_runs(c: Container, base: str) -> None:
    """Once the server answers, triage a few open help-desk tickets (first start only)."""
    async with httpx.AsyncClient() as client:
        for _ in range(100):
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{base}/healthz")).status_code == 200:
                    break
            await asyncio.sleep(0.1)
    for name in DEMO_CONNECTIONS:  # health for the connections page, as an owner would check it
        with contextlib.suppress(Exception):
            await c.pool.test(name)
    with c.db.session() as s:
        if s.scalar(select(Run.id).limit(1)):
            return
    try:
        helpdesk = c.pool.connector("helpdesk")
        found = await helpdesk.search_tickets(query="status:new")  # type: ignore[attr-defined]
    except Exception as exc:
        log.warning("could not seed demo tickets: %s", exc)
        return
    tickets = found.get("results", found) if isinstance(found, dict) else found
    for t in list(tickets)[:SEED_TICKETS]:
        requester = None
        if t.get("requester_id"):
            with contextlib.suppress(Exception):
                user = (await helpdesk.client.get(f"/api/v2/users/{t['requester_id']}.json")).json()
                requester = user.get("user", {}).get("email")
        payload = {
            "subject": t.get("subject") or "(no subject)",
            "body": t.get("description") or "",
            "requester_email": requester or "customer@example.com",
            "external_id": t["id"],
            "tags": t.get("tags", []),
        }
        intake.submit(
            c.db, kind="ticket", run_kind="triage", payload=payload, source="helpdesk", actor="demo-seed"
        )
    c.wake()


def run_demo(*, host: str, port: int, data_dir: Path) -> None:
    import uvicorn

    from app.api.app import create_app

    console = Console()
    if not _port_free(host, port):
        console.print(f"[red]error:[/red] port {port} on {host} is in use; choose another with --port")
        raise SystemExit(2)
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings()
    settings.data_dir = data_dir
    reach = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    settings.notify = settings.notify or "chat:#support"
    settings.public_url = settings.public_url or f"http://{reach}:{port}"
    c = Container(settings)
    c.db.upgrade()
    base = f"http://{reach}:{port}"
    ensure_connections(c, base)
    _, token = create_token(c.db, "demo-admin", "admin", actor="demo")
    token_file = data_dir / "admin-token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    console.print(
        Panel.fit(
            f"[bold]Switchboard demo[/bold] at [link={base}]{base}[/link] (open it and sign in with the token)\n"
            f"admin token: {token}\n(also in {token_file})\n"
            f"model: {settings.model}   database: {c.db.engine.url.render_as_string(hide_password=True)}\n"
            f"simulators: {', '.join(f'{base}/sim/{k}/' for k in SIMULATORS)}\n\n"
            f"try:  curl -H 'Authorization: Bearer {token}' {base}/api/v1/approvals",
            title="ready",
        )
    )
    sims = {kind: factory() for kind, factory in SIMULATORS.items()}
    wire_webhooks(c, sims, base)
    api = create_app(c, simulators=sims, run_worker=True, on_ready=lambda cont: seed_runs(cont, base))
    uvicorn.run(api, host=host, port=port, log_level="warning")
