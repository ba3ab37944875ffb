"""A Container wired to a test database, a scripted model and in-process simulators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from app.llm.base import Model, ModelResponse, ToolCall, Usage
from app.llm.scripted import output, text
from app.main import Container
from app.services.connections import add_connection
from connectors.helpdesk.simulator import create_app as helpdesk_app
from evals.wiring import HELPDESK_URL as HELPDESK_URL
from evals.wiring import container as container
from evals.wiring import settings as settings


def triage_script(
    ticket_id: int, *, reply: str = "Thanks, we have refunded the duplicate charge."
) -> list[Any]:
    """What a well-behaved model answers for one ticket: classify, draft, propose two writes, finish."""
    return [
        output(
            {
                "category": "billing",
                "priority": "high",
                "sentiment": "negative",
                "language": "en",
                "confidence": 0.91,
                "rationale": "mentions a double charge",
            }
        ),
        output(
            {
                "body": reply,
                "sources": [{"id": 1, "title": "Refund policy", "url": "http://kb/1"}],
                "grounded": True,
            }
        ),
        ModelResponse(
            tool_calls=[
                ToolCall(
                    id="c1",
                    name="helpdesk__add_comment",
                    arguments={"ticket_id": ticket_id, "body": reply, "public": True},
                ),
                ToolCall(
                    id="c2",
                    name="helpdesk__update_ticket",
                    arguments={"ticket_id": ticket_id, "priority": "high", "add_tags": ["billing"]},
                ),
            ],
            stop_reason="tool_use",
            usage=Usage(input_tokens=100, output_tokens=20),
        ),
        text("Replied and set priority."),
    ]


class HostRouter(httpx.AsyncBaseTransport):
    """Send each host's requests to its own in-process ASGI app (one simulator per system)."""

    def __init__(self, apps: dict[str, Any]):
        self.transports = {host: httpx.ASGITransport(app=app) for host, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self.transports.get(request.url.host)
        if transport is None:
            raise httpx.ConnectError(f"no simulator for {request.url.host}", request=request)
        return await transport.handle_async_request(request)


def full_container(
    db_url: str, data_dir: Path, model: Model | None = None, **extra: Any
) -> tuple[Container, dict[str, Any]]:
    """Every shipped system (help desk, payments, ERP, chat) as an in-process simulator."""
    from connectors.chat.simulator import create_app as chat_app
    from connectors.erp.simulator import create_app as erp_app
    from connectors.payments.simulator import create_app as payments_app

    sims = {"helpdesk": helpdesk_app(), "payments": payments_app(), "erp": erp_app(), "chat": chat_app()}
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
            owner="ops",
        )
    return c, sims
