"""Seed a distinctive secret into every connection, run a triage, a finance record and
a chat turn through approval, and find no secret anywhere a person, a log collector or
a model provider could see it: steps, audit log, every table, model requests, log
lines at DEBUG, the connections API. The simulators demand the secrets, and a tap on
the transport checks they really went out, so the test fails if the secret were
simply never used."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.api.app import create_app
from app.llm.base import ModelRequest, ModelResponse
from app.llm.local import LocalModel
from app.llm.scripted import ScriptedModel, text, tool_use
from app.main import Container
from app.services import approvals, chat, intake
from app.services.auth import Principal, create_token
from app.services.connections import add_connection
from app.services.views import run_view
from app.store.tables import AuditEntry, Base, Connection
from connectors.chat.simulator import create_app as chat_app
from connectors.erp.simulator import create_app as erp_app
from connectors.helpdesk.simulator import create_app as helpdesk_app
from connectors.payments.simulator import create_app as payments_app
from connectors.simulator_base import SimulatorAuth
from tests.support.app import HostRouter, settings, triage_script
from tests.support.loopback import LoopbackServer

APPROVER = Principal("pat", "approver")
ASKER = Principal("sam", "operator")
HELPDESK_EMAIL = "switchboard@northwind.example"
LOGGERS = ("httpx", "httpcore", "zeep", "sqlalchemy.engine", "switchboard", "connectors", "app", "asyncio")


def _b64(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


class Secrets:
    """One secret per connection, each a vendor-looking prefix and a random core."""

    def __init__(self) -> None:
        self.cores = [uuid.uuid4().hex for _ in range(4)]
        self.helpdesk, self.payments, self.erp, self.chat = (
            f"{prefix}{core}"
            for prefix, core in zip(("zd-", "sk_test_", "erp-pw-", "xoxb-"), self.cores, strict=True)
        )
        self.plain = [self.helpdesk, self.payments, self.erp, self.chat]

    def needles(self) -> list[str]:
        """The first 12 characters of each core (so a truncated or re-prefixed secret counts
        too) and the basic-auth encodings that carry the help desk and ERP secrets on the wire."""
        return [core[:12] for core in self.cores] + [
            _b64(f"{HELPDESK_EMAIL}/token", self.helpdesk),
            _b64("switchboard", self.erp),
        ]

    def leaks(self, where: str, haystack: str | bytes) -> list[str]:
        data = haystack.decode("latin-1") if isinstance(haystack, bytes) else haystack
        return [f"{where}: {n}" for n in self.needles() if n in data]


class Tap(httpx.AsyncBaseTransport):
    """Keeps each request's host and Authorization header (the sanity check), then sends it:
    to a real loopback server over the network (httpcore and all), or to an in-process simulator."""

    def __init__(self, in_process: httpx.AsyncBaseTransport):
        self.in_process = in_process
        self.network = httpx.AsyncHTTPTransport()
        self.seen: list[tuple[str, str | None]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.url.host, request.headers.get("authorization")))
        if request.url.host == "127.0.0.1":
            return await self.network.handle_async_request(request)
        return await self.in_process.handle_async_request(request)

    async def aclose(self) -> None:
        await self.network.aclose()


class PerPipeline:
    """The scripted model for triage and chat (so every request is kept), the local model for finance."""

    name = "scripted"

    def __init__(self, triage: ScriptedModel, chat: ScriptedModel, local: LocalModel):
        self.triage, self.chat, self.local = triage, chat, local
        self.requests: list[ModelRequest] = []

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        prompt = request.prompt or ""
        if prompt.startswith("finance/"):
            return await self.local.complete(request)
        return await (self.triage if prompt.startswith("triage/") else self.chat).complete(request)


@pytest.fixture
def secrets() -> Secrets:
    return Secrets()


@pytest.fixture
def payments_url(secrets: Secrets) -> Iterator[str]:
    """Payments over real loopback HTTP, so httpcore's own DEBUG logging is exercised too."""
    with LoopbackServer(payments_app(auth=SimulatorAuth(bearer=frozenset({secrets.payments})))) as server:
        yield server.url


def secret_container(
    db_url: str, data_dir: Path, model: Any, secrets: Secrets, payments_url: str
) -> tuple[Container, Tap]:
    """Every shipped system, each accepting only its connection's secret."""
    sims = {
        "helpdesk": helpdesk_app(auth=SimulatorAuth(basic=(f"{HELPDESK_EMAIL}/token", secrets.helpdesk))),
        "erp": erp_app(auth=SimulatorAuth(basic=("switchboard", secrets.erp))),
        "chat": chat_app(auth=SimulatorAuth(bearer=frozenset({secrets.chat}))),
    }
    tap = Tap(HostRouter({f"{k}.sim": v for k, v in sims.items()}))
    key = f"box-{uuid.uuid4().hex}"
    c = Container(settings(db_url, data_dir, SWITCHBOARD_SECRET_KEY=key), model_override=model, transport=tap)
    c.db.upgrade()
    connections = {
        "helpdesk": ("zendesk_token", {"email": HELPDESK_EMAIL, "token": secrets.helpdesk}),
        "payments": ("bearer", {"token": secrets.payments}),
        "erp": ("basic", {"username": "switchboard", "password": secrets.erp}),
        "chat": ("bearer", {"token": secrets.chat}),
    }
    for name, (auth_type, creds) in connections.items():
        add_connection(
            c.db,
            c.box,
            name=name,
            kind=name,
            base_url=payments_url
            if name == "payments"
            else f"http://{name}.sim" + ("/NorthwindERP.asmx" if name == "erp" else ""),
            auth_type=auth_type,
            credentials=creds,
            owner="ops",
        )
    return c, tap


INVOICE = {
    "kind": "invoice",
    "amount": "486.20",
    "currency": "EUR",
    "counterparty": "Fabrikam Office Supplies",
    "description": "Toner and printer paper",
    "invoice_number": "FAB-30077",
    "date": "2026-11-20",
    "vendor_id": "V1002",
}


async def test_no_secret_in_steps_audit_tables_model_requests_logs_or_api(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, secrets: Secrets, payments_url: str
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    model = PerPipeline(
        ScriptedModel(triage_script(1)),
        ScriptedModel(
            [
                tool_use("payments__find_customer", {"email": "ann.lee@example.com"}),
                tool_use(
                    "chat__post_message", {"channel": "#billing", "text": "Ann Lee asked about a refund."}
                ),
                text("Found Ann Lee and posted in #billing."),
            ]
        ),
        LocalModel(),
    )
    c, tap = secret_container(db_url, tmp_path, model, secrets, payments_url)
    ticket = {
        "subject": "Charged twice",
        "body": "I was billed twice in March.",
        "requester_email": "ann.lee@example.com",
        "external_id": 1,
    }
    runs = [
        intake.submit(
            c.db, kind="ticket", run_kind="triage", payload=ticket, source="api", actor="api-client"
        )[0],
        intake.submit(
            c.db, kind="record", run_kind="record", payload=INVOICE, source="api", actor="erp-sync"
        )[0],
        chat.start_turn(c.db, "Find Ann Lee in payments and tell #billing", None, ASKER)[0],
    ]
    await c.orchestrator.drain("w1")
    for _ in range(3):  # approve whatever waits, until every run is done
        pending = approvals.list_actions(c.db, "pending")
        if not pending:
            break
        for a in pending:
            approvals.approve(c.db, a["id"], APPROVER, c.pool.catalogue)
        await c.orchestrator.drain("w2")

    views = [run_view(c.db, r) for r in runs]
    assert [v["status"] for v in views] == ["succeeded"] * 3, [(v["kind"], v["error"]) for v in views]
    ops = sorted(a["operation"] for v in views for a in v["actions"] if a["status"] == "succeeded")
    assert {"add_comment", "update_ticket", "post_journal_entry", "post_message"} <= set(ops), ops

    # sanity: the secrets are stored and really went out, each to its own system
    sent = {(host, auth) for host, auth in tap.seen}
    assert ("127.0.0.1", f"Bearer {secrets.payments}") in sent
    assert ("chat.sim", f"Bearer {secrets.chat}") in sent
    assert ("erp.sim", f"Basic {_b64('switchboard', secrets.erp)}") in sent
    assert ("helpdesk.sim", f"Basic {_b64(f'{HELPDESK_EMAIL}/token', secrets.helpdesk)}") in sent
    assert {host for host, _ in tap.seen} == {"helpdesk.sim", "127.0.0.1", "erp.sim", "chat.sim"}
    # ... and the places searched below were really filled
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    assert all(f"http://{h}.sim" in caplog.text for h in ("helpdesk", "erp", "chat"))
    assert {"httpx", "httpcore.http11", "sqlalchemy.engine.Engine"} <= {r.name for r in caplog.records}
    assert {(r.prompt or "").split("@")[0] for r in model.requests} >= {
        "triage/classify",
        "finance/classify",
        "chat",
    }

    leaks: list[str] = []
    for v in views:
        leaks += secrets.leaks(f"run {v['kind']} (steps, actions)", json.dumps(v, default=str))
    for i, request in enumerate(model.requests):
        leaks += secrets.leaks(f"model request {i} ({request.prompt})", request.model_dump_json())
    leaks += secrets.leaks("log records", caplog.text)
    leaks += secrets.leaks("log arguments", repr([(r.msg, r.args) for r in caplog.records]))
    with c.db.session() as s:
        audit = [
            (a.actor, a.event, a.subject_type, a.subject_id, a.data) for a in s.scalars(select(AuditEntry))
        ]
        assert len(audit) > 20
        leaks += secrets.leaks("audit log", json.dumps(audit, default=str))
        for table in Base.metadata.sorted_tables:  # every row of every table, credentials included
            leaks += secrets.leaks(f"table {table.name}", repr(s.execute(select(table)).all()))
        rows = s.scalars(select(Connection).order_by(Connection.name)).all()
        assert len(rows) == 4
        for row in rows:
            assert row.credentials
            leaks += secrets.leaks(f"stored credentials of {row.name}", row.credentials)
        opened = [json.dumps(c.box.open(row.credentials)) for row in rows]
        assert all(any(p in o for o in opened) for p in secrets.plain)  # encrypted, not lost

    token = create_token(c.db, "ada", "admin")[1]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(c)), base_url="http://sb"
    ) as api:
        answer = await api.get("/api/v1/connections", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200 and len(answer.json()) == 4
        leaks += secrets.leaks("GET /api/v1/connections", answer.text)
        for run_id in runs:
            leaks += secrets.leaks(
                "GET /api/v1/runs/{id}",
                (await api.get(f"/api/v1/runs/{run_id}", headers={"Authorization": f"Bearer {token}"})).text,
            )
    assert leaks == []
    await c.pool.aclose()
    await tap.aclose()
