"""A Container for evaluations: a migrated database, a given model, the help desk answered in-process.

Evals drive the real services and pipelines; only the model and the systems'
transport are chosen here, so a figure measures the product, not a stand-in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from app.config import Settings
from app.llm.base import Model
from app.main import Container
from app.services.connections import add_connection

HELPDESK_URL = "http://helpdesk.sim"


class HostRouter(httpx.AsyncBaseTransport):
    """Send each host's requests to its own in-process ASGI app (one simulator per system)."""

    def __init__(self, apps: dict[str, Any]):
        self.transports = {host: httpx.ASGITransport(app=app) for host, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self.transports.get(request.url.host)
        if transport is None:
            raise httpx.ConnectError(f"no simulator for {request.url.host}", request=request)
        return await transport.handle_async_request(request)


# Who tickets a workflow opens are from: each installation configures it on its help desk.
WORKFLOW_DEFAULTS: dict[str, dict[str, Any]] = {
    "helpdesk": {"defaults": {"create_ticket": {"requester_email": "orders@northwind.example"}}},
}


def settings(db_url: str, data_dir: Path, **extra: Any) -> Settings:
    """Eval and test settings: a credentials key of their own and private reach (the simulators
    answer on loopback or in-process) unless `extra` says otherwise."""
    defaults = {
        "SWITCHBOARD_SECRET_KEY": "switchboard-evals-wiring-key",
        "SWITCHBOARD_ALLOW_PRIVATE_NETWORK": "1",
    }
    return Settings.model_validate(
        {**defaults, "DATABASE_URL": db_url, "SWITCHBOARD_DATA_DIR": str(data_dir), **extra}
    )


def container(
    db_url: str, data_dir: Path, model: Model | None = None, sim: Any = None, **extra: Any
) -> Container:
    """Migrated database, a 'helpdesk' connection answered in-process by `sim` (its simulator by default)."""
    if sim is None:
        from connectors.helpdesk.simulator import create_app

        sim = create_app()
    c = Container(
        settings(db_url, data_dir, **extra), model_override=model, transport=httpx.ASGITransport(app=sim)
    )
    c.db.upgrade()
    add_connection(
        c.db,
        c.box,
        name="helpdesk",
        kind="helpdesk",
        base_url=HELPDESK_URL,
        auth_type="zendesk_token",
        credentials={"email": "switchboard@northwind.example", "token": "s3cr3t-helpdesk-token"},
        config=WORKFLOW_DEFAULTS["helpdesk"],
        owner="ops",
    )
    return c


def demo_container(
    db_url: str, data_dir: Path, model: Model | None = None, **extra: Any
) -> tuple[Container, dict[str, Any]]:
    """The demo's systems, each a freshly seeded simulator answered in-process, with the demo's logins.

    The same connections `switchboard demo` makes (app/demo.py), reached as `http://<name>.sim`
    instead of over loopback, so an eval needs no port and every run starts from the same data.
    """
    from app.demo import DEMO_CONNECTIONS
    from connectors.registry import CONNECTOR_TYPES
    from connectors.simulators import SIMULATORS

    wanted = {
        name: demo
        for name, demo in DEMO_CONNECTIONS.items()
        if demo.simulator in SIMULATORS and demo.kind in CONNECTOR_TYPES and demo.kind != "mcp"
    }
    sims = {name: SIMULATORS[demo.simulator]() for name, demo in wanted.items()}
    c = Container(
        settings(db_url, data_dir, **extra),
        model_override=model,
        transport=HostRouter({f"{name}.sim": app for name, app in sims.items()}),
    )
    c.db.upgrade()
    for name, demo in wanted.items():
        add_connection(
            c.db,
            c.box,
            name=name,
            kind=demo.kind,
            base_url=f"http://{name}.sim{demo.path}",
            auth_type=demo.auth_type,
            credentials=demo.credentials,
            config=demo.config,
            owner="eval",
            actor="eval",
        )
    return c, sims


def full_container(
    db_url: str, data_dir: Path, model: Model | None = None, *, crm: bool = False, **extra: Any
) -> tuple[Container, dict[str, Any]]:
    """Every shipped system (help desk, payments, ERP, chat; the CRM too with `crm=True`) as an
    in-process simulator."""
    from connectors.chat.simulator import create_app as chat_app
    from connectors.crm.simulator import create_app as crm_app
    from connectors.erp.simulator import create_app as erp_app
    from connectors.helpdesk.simulator import create_app
    from connectors.payments.simulator import create_app as payments_app

    sims = {"helpdesk": create_app(), "payments": payments_app(), "erp": erp_app(), "chat": chat_app()}
    if crm:
        sims["crm"] = crm_app()
    c = Container(
        settings(db_url, data_dir, **extra),
        model_override=model,
        transport=HostRouter({f"{k}.sim": v for k, v in sims.items()}),
    )
    c.db.upgrade()
    auth = {
        "helpdesk": (
            "zendesk_token",
            {"email": "switchboard@northwind.example", "token": "s3cr3t-helpdesk-token"},
        ),
        "payments": ("bearer", {"token": "sk_test_s3cr3t"}),
        "erp": ("basic", {"username": "switchboard", "password": "s3cr3t-erp"}),
        "chat": ("bearer", {"token": "xoxb-s3cr3t"}),
        "crm": ("bearer", {"token": "pat-s3cr3t"}),
    }
    for name in sims:
        auth_type, creds = auth[name]
        add_connection(
            c.db,
            c.box,
            name=name,
            kind=name,
            base_url=f"http://{name}.sim" + ("/NorthwindERP.asmx" if name == "erp" else ""),
            auth_type=auth_type,
            credentials=creds,
            config=WORKFLOW_DEFAULTS.get(name),
            owner="ops",
        )
    return c, sims
