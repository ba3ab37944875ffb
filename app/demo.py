"""`switchboard demo`: the whole product in one process, with no key and no network.

SQLite in the data dir, the local model, every shipped connector's simulator
mounted under /sim/<name>/ on the same port (its connection points there over
loopback HTTP, as a real system would be reached), an in-process worker, and a
few seeded tickets triaged at start so the approval queue has work in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from sqlalchemy import select

from app.cli.listen import cannot_listen
from app.cli.where import remove_demo_note, write_demo_note
from app.config import Settings
from app.main import Container
from app.services import intake
from app.services.auth import authenticate, create_token
from app.services.connections import add_connection
from app.store.runs import audit
from app.store.tables import Action, Connection, Item, Run, utcnow
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
        {"defaults": {"create_ticket": {"requester_email": "orders@northwind.example"}}},
    ),
    "payments": DemoConnection("payments", "payments", "bearer", {"token": "sk_test_demo"}),
    "crm": DemoConnection("crm", "crm", "bearer", {"token": "pat-demo"}),
    "chat": DemoConnection("chat", "chat", "bearer", {"token": "xoxb-demo"}),
    "tracker": DemoConnection(
        "tracker",
        "tracker",
        "api_key",
        {"key": "lin_api_demo"},
        {"header": "Authorization", "defaults": {"create_issue": {"team_id": "SUP"}}},
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
DEMO_PAYMENTS_WEBHOOK_SECRET = "whsec_demo_webhook_signing_secret"  # a Stripe endpoint's signing secret
DEMO_CRM_WEBHOOK_SECRET = "hubspot-demo-app-client-secret"  # a HubSpot app's client secret
DEMO_TRACKER_WEBHOOK_SECRET = "lin_wh_demo_webhook_signing_secret"  # a Linear webhook's signing secret
SEED_TICKETS = 3
UNFINISHED = ("queued", "running", "waiting_approval")
# An OAuth2 authorization server at /sim/oauth/ (token endpoint /sim/oauth/oauth/tokens), so the
# README's OAuth2 connection can be added and tested against the demo: its tokens expire in an
# hour, and the connection's expiry alert shows it.
DEMO_OAUTH_CLIENT = ("demo-client", "demo-client-secret")


def oauth_server() -> Any:
    """A bare RFC 6749 token endpoint (client credentials), with the simulators' fault controls."""
    from fastapi import FastAPI

    from connectors.simulator_base import Faults, OAuthSettings, SimulatorAuth, install

    app = FastAPI(title="OAuth2 authorization server", docs_url=None, redoc_url=None, openapi_url=None)
    client_id, client_secret = DEMO_OAUTH_CLIENT
    settings = OAuthSettings(client_id=client_id, client_secret=client_secret, token_path="/oauth/tokens")
    install(
        app,
        faults=Faults(),
        auth=SimulatorAuth(oauth=settings),
        error_body=lambda status: {"error": "server_error", "status": status},
    )
    return app


def _hold_data_dir(data_dir: Path) -> Any:
    """Take the data dir for this demo (an exclusive lock held while it runs): a second demo on the
    same dir would expire the first one's queue and move its connections to its own port."""
    handle = (data_dir / "demo.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        held_by = handle.read().strip()
        handle.close()
        return f"a demo is already running on {data_dir}{f' ({held_by})' if held_by else ''}: stop it, or give this one another --data-dir"
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    return handle


def ensure_connections(c: Container, base: str) -> None:
    """One connection per demo system, pointing at this process; kept across restarts (their demo
    credentials sealed again, so a data dir from before the demo had its own key still works).
    A restart on another address moves them, and the connections a person added that point at
    the demo's own simulators (the README's `pets`, `stock`, `desk`) move with them."""
    before = _previous_base(c)
    for name, demo in DEMO_CONNECTIONS.items():
        if demo.simulator not in SIMULATORS or demo.kind not in CONNECTOR_TYPES:
            continue
        url = f"{base}/sim/{demo.simulator}{demo.path}"
        with c.db.session() as s:
            row = s.scalar(select(Connection).where(Connection.name == name))
            if row is not None:
                moved = row.base_url != url  # another port: processes beside the demo rebuild it
                row.base_url = url
                if row.owner == "demo":
                    row.credentials = c.box.seal(demo.credentials)
                if moved:
                    row.revision = (row.revision or 1) + 1
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
            allow_private=True,
        )
    if before is not None and before != base:
        _move_added(c, before, base)


def _previous_base(c: Container) -> str | None:
    """Where the demo served before this start, read off one of its own connections."""
    with c.db.read() as s:
        rows = {r.name: r.base_url for r in s.execute(select(Connection.name, Connection.base_url))}
    for name, demo in DEMO_CONNECTIONS.items():
        suffix = f"/sim/{demo.simulator}{demo.path}"
        if str(rows.get(name) or "").endswith(suffix):
            return str(rows[name])[: -len(suffix)]
    return None


def _move_added(c: Container, before: str, base: str) -> None:
    """Connections a person added pointing at the demo's simulators at `before` point at `base`:
    their URL and any URL in their settings (an OAuth2 token URL), with a new revision."""
    old, new = f"{before}/sim/", f"{base}/sim/"
    with c.db.session() as s:
        for row in s.scalars(select(Connection).where(Connection.name.not_in(list(DEMO_CONNECTIONS)))):
            config = json.loads(
                json.dumps(row.config or {}).replace(json.dumps(old)[1:-1], json.dumps(new)[1:-1])
            )
            if not str(row.base_url).startswith(old) and config == (row.config or {}):
                continue
            if str(row.base_url).startswith(old):
                row.base_url = new + str(row.base_url)[len(old) :]
            row.config = config
            row.revision = (row.revision or 1) + 1
            audit(s, "demo", "connection.moved", "connection", row.id, {"name": row.name, "to": base})


def demo_secret(data_dir: Path) -> str:
    """The demo's own key for stored credentials: generated once, kept in the data dir (0600)."""
    path = data_dir / "secret-key"
    if path.exists() and len(key := path.read_text().strip()) >= 16:
        return key
    key = secrets.token_urlsafe(32)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def demo_settings(data_dir: Path, base: str) -> Settings:
    """The environment's settings, completed for the demo: its data dir, its key unless one is set,
    private network reach (the simulators answer on loopback), notices and the public URL."""
    settings = Settings()
    settings.data_dir = data_dir
    # SQLite in the data dir, whatever DATABASE_URL says: the demo resets its connections and
    # queue on every start, which would take over a database that `serve` uses.
    settings.database_url = None
    settings.secret_key = settings.secret_key or demo_secret(data_dir)
    settings.allow_private_network = True
    settings.notify = settings.notify or "chat:#support"
    settings.public_url = settings.public_url or base
    return settings


def admin_token(c: Container, data_dir: Path) -> str:
    """The admin token in the data dir while it still signs in; a new one (written there) otherwise."""
    token_file = data_dir / "admin-token"
    if token_file.exists():
        token = token_file.read_text().strip()
        if token and authenticate(c.db, token) is not None:
            return token
    _, token = create_token(c.db, "demo-admin", "admin", actor="demo")
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    return token


RESTARTED = (
    "the demo restarted: its simulated systems start again from their seed data, so what was "
    "proposed before no longer matches them"
)


def forget_previous_session(c: Container) -> int:
    """Simulators keep their state in memory and start from their seed: a restart expires the
    pending actions of the previous session and cancels its unfinished runs. Returns how many
    actions were expired."""
    now = utcnow()
    c.bookings_since = now  # what the previous session booked went with its simulators
    with c.db.session() as s:
        actions = s.scalars(select(Action).where(Action.status == "pending")).all()
        for a in actions:
            a.status, a.reason, a.decided_by, a.decided_at = "expired", RESTARTED, "demo", now
            audit(s, "demo", "action.expired", "action", a.id, {"run_id": a.run_id, "reason": RESTARTED})
        runs = s.scalars(select(Run).where(Run.status.in_(UNFINISHED))).all()
        for r in runs:
            r.status, r.error, r.lease_owner, r.lease_expires_at = "cancelled", RESTARTED, None, None
            audit(s, "demo", "run.cancelled", "run", r.id, {"reason": RESTARTED})
        return len(actions)


def prepare(c: Container, data_dir: Path, base: str) -> str:
    """Everything before serving: migrations, connections, the previous session put away, the
    admin token. Returns the token."""
    c.db.upgrade()
    ensure_connections(c, base)
    forget_previous_session(c)
    return admin_token(c, data_dir)


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
    """The shop, the warehouse, payments, the CRM and the tracker send their signed webhooks to
    this process, and the connections hold what verifies them, so a workflow triggers as it
    would in production (a dispute opened in payments: `charge.dispute.created`)."""
    from app.services.webhook_secrets import set_webhook_secret, set_webhook_url_token
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
    if payments is not None:
        payments.configure_webhook(
            url=f"{base}/api/v1/webhooks/payments", secret=DEMO_PAYMENTS_WEBHOOK_SECRET
        )
        set_webhook_secret(c.db, c.box, "payments", DEMO_PAYMENTS_WEBHOOK_SECRET, "demo")
    if shop is not None:
        shop.shop.webhook.update(url=f"{base}/api/v1/webhooks/shop", secret=DEMO_SHOP_WEBHOOK_SECRET)
        set_webhook_secret(c.db, c.box, "shop", DEMO_SHOP_WEBHOOK_SECRET, "demo")
    warehouse = getattr(sims.get("warehouse"), "state", None)
    if warehouse is not None:
        token = secrets.token_urlsafe(24)  # ShipStation's key signs every account: the URL names ours
        warehouse.warehouse.webhook["url"] = f"{base}/api/v1/webhooks/warehouse?token={token}"
        set_webhook_secret(c.db, c.box, "warehouse", json.dumps(warehouse.warehouse.jwks()), "demo")
        set_webhook_url_token(c.db, c.box, "warehouse", token, "demo")
    for name, secret in (("crm", DEMO_CRM_WEBHOOK_SECRET), ("tracker", DEMO_TRACKER_WEBHOOK_SECRET)):
        state = getattr(getattr(sims.get(name), "state", None), name, None)
        if state is not None:
            state.webhooks.configure({"url": f"{base}/api/v1/webhooks/{name}", "secret": secret})
            set_webhook_secret(c.db, c.box, name, secret, "demo")


async def seed_runs(c: Container, base: str) -> None:
    """Once the server answers, triage a few open help-desk tickets and propose the large
    refund; on a restart, the same again (the previous session's runs were cancelled)."""
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
        if s.scalar(select(Run.id).where(Run.status.in_(UNFINISHED)).limit(1)):
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
        _, created = intake.submit(
            c.db, kind="ticket", run_kind="triage", payload=payload, source="helpdesk", actor="demo-seed"
        )
        if not created:  # triaged in an earlier session, against simulators since reset: again
            run_again(c, "ticket", "triage", "helpdesk", payload)
    await seed_large_refund(c)
    c.wake()


async def seed_large_refund(c: Container) -> None:
    """A refund above the two-approver threshold, so the queue shows the rule: part of the
    seeded hotel order (payments seed: Harbor Lane Hotels, $3,120.00)."""
    try:
        payments = c.pool.connector("payments")
        hotel = await payments.find_customer(email="purchasing@harborlane.example")  # type: ignore[attr-defined]
        charges = await payments.list_charges(customer_id=hotel["id"]) if hotel else []  # type: ignore[attr-defined]
    except Exception as exc:
        log.warning("could not seed the demo refund: %s", exc)
        return
    if not charges:
        return
    payload = {
        "kind": "refund",
        "amount": "780.00",
        "currency": "USD",
        "counterparty": "Harbor Lane Hotels",
        "description": "10 of the 40 bedding sets arrived stained; refund agreed by phone",
        "customer_email": "purchasing@harborlane.example",
        "charge_id": charges[0]["id"],
        "external_id": "demo-refund-NW-48230",
    }
    _, created = intake.submit(
        c.db, kind="record", run_kind="record", payload=payload, source="demo", actor="demo-seed"
    )
    if not created:  # proposed in an earlier session, whose run the restart cancelled: again
        run_again(c, "record", "record", "demo", payload)


def run_again(c: Container, kind: str, run_kind: str, source: str, payload: dict[str, Any]) -> None:
    """A new queued run on an item an earlier session seeded (the seeded tickets, the large
    refund): its run was cancelled by the restart and the simulators it read are back at their
    seed, so it is worked again, with what the simulators hold now and the input `intake.submit`
    gives a new item."""
    external_id = str(payload["external_id"])
    with c.db.session() as s:
        item = s.scalar(
            select(Item).where(Item.kind == kind, Item.source == source, Item.external_id == external_id)
        )
        if item is not None:
            s.add(
                Run(
                    kind=run_kind,
                    item_id=item.id,
                    input=intake.run_input(kind, payload, source, "demo-seed"),
                    created_by="demo-seed",
                )
            )


def run_demo(*, host: str, port: int, data_dir: Path) -> None:
    import uvicorn

    from app.api.app import create_app

    console = Console()

    def refuse(why: str) -> None:
        console.print(f"[red]error:[/red] {escape(why)}", highlight=False, soft_wrap=True)
        raise SystemExit(2)

    if (why := cannot_listen(host, port)) is not None:
        refuse(why)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        refuse(f"cannot use --data-dir {data_dir} as the demo's data dir: {exc.strerror or exc}")
    held = _hold_data_dir(data_dir)
    if isinstance(held, str):
        refuse(held)
    reach = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base = f"http://{reach}:{port}"
    settings = demo_settings(data_dir, base)
    if Settings().database_url:
        console.print(
            f"note: DATABASE_URL is set; the demo keeps its own SQLite database in {data_dir} and leaves "
            "that one alone",
            highlight=False,
        )
    c = Container(settings)
    try:  # built before the banner: a bad SWITCHBOARD_MODEL or a missing key is one line, not a traceback
        c.model  # noqa: B018
    except ValueError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
    token = prepare(c, data_dir, base)
    admin_token_file = data_dir / "admin-token"
    write_demo_note(data_dir, base)
    console.print(
        Panel.fit(
            f"[bold]Switchboard demo[/bold] at [link={base}]{base}[/link] (open it and sign in with the token)\n"
            f"admin token: {token}\n(also in {admin_token_file})\n"
            f"model: {settings.model}   database: {c.db.engine.url.render_as_string(hide_password=True)}\n"
            f"simulators: {', '.join(f'{base}/sim/{k}/' for k in SIMULATORS)}\n\n"
            f"try:  curl -H 'Authorization: Bearer {token}' {base}/api/v1/approvals\n"
            f"CLI:  . .venv/bin/activate && switchboard approvals list   (commands run here use this demo's data)",
            title="ready",
        )
    )
    sims = {kind: factory() for kind, factory in SIMULATORS.items()}
    sims["oauth"] = oauth_server()
    wire_webhooks(c, sims, base)
    api = create_app(c, simulators=sims, run_worker=True, on_ready=lambda cont: seed_runs(cont, base))
    try:
        uvicorn.run(api, host=host, port=port, log_level="warning")
    finally:
        remove_demo_note()
