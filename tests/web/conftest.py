"""An in-process app with one triaged ticket (two pending actions) and a token per role."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.api.app import create_app
from app.llm.base import Model
from app.llm.scripted import ScriptedModel
from app.main import Container
from app.services import intake
from app.services.auth import ROLES, create_token
from connectors.helpdesk.simulator import create_app as helpdesk_app
from tests.support.app import container, settings, triage_script

HOST = "sb.test"
ORIGIN = f"http://{HOST}"
TICKET = {
    "subject": "Charged twice for March",
    "body": "I was billed twice in March, please refund one.",
    "requester_email": "ann.lee@example.com",
    "external_id": 5,
}


@dataclass
class Ui:
    c: Container
    client: httpx.AsyncClient
    tokens: dict[str, str] = field(default_factory=dict)
    run_id: str = ""

    async def get(self, path: str, role: str | None = "admin", **kw: Any) -> httpx.Response:
        return await self.client.get(path, headers={**self.cookie(role), **kw.pop("headers", {})}, **kw)

    async def post(
        self, path: str, role: str | None = "admin", *, origin: str | None = ORIGIN, **kw: Any
    ) -> httpx.Response:
        headers = {**self.cookie(role), **kw.pop("headers", {})}
        if origin:
            headers["Origin"] = origin
        return await self.client.post(path, headers=headers, **kw)

    def cookie(self, role: str | None) -> dict[str, str]:
        return {"Cookie": f"sb_token={self.tokens[role]}"} if role else {}

    def bearer(self, role: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}

    def pending(self) -> list[dict[str, Any]]:
        from app.services import approvals

        return approvals.list_actions(self.c.db, "pending")


_TEMPLATE: dict[str, Path] = {}


def fast_container(db_url: str, tmp_path: Path, model: Model, sim: Any = None, **extra: Any) -> Container:
    """tests.support.app.container, but SQLite databases are copied from one migrated template.

    Migrating a fresh SQLite file costs most of a second; copying one costs a millisecond.
    """
    prefix = "sqlite:///"
    if not db_url.startswith(prefix):
        return container(db_url, tmp_path, model, sim, **extra)
    if "db" not in _TEMPLATE:
        home = Path(tempfile.mkdtemp(prefix="sb-web-template-"))
        template = container(f"{prefix}{home / 'template.db'}", home)
        template.db.dispose()  # checkpoint the WAL into the file
        _TEMPLATE["db"] = home / "template.db"
    shutil.copyfile(_TEMPLATE["db"], db_url.removeprefix(prefix))
    return Container(
        settings(db_url, tmp_path, **extra),
        model_override=model,
        transport=httpx.ASGITransport(app=sim if sim is not None else helpdesk_app()),
    )


async def make_ui(db_url: str, tmp_path: Path, script: list[Any] | None = None) -> tuple[Ui, Any]:
    c = fast_container(db_url, tmp_path, ScriptedModel(script or triage_script(5)))
    app = create_app(c)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN)
    ui = Ui(c, client, {role: create_token(c.db, f"{role}-user", role)[1] for role in ROLES})
    ui.run_id, _ = intake.submit(
        c.db, kind="ticket", run_kind="triage", payload=TICKET, source="api", actor="operator-user"
    )
    await c.orchestrator.drain("w")
    return ui, app


@pytest.fixture
async def ui(db_url: str, tmp_path: Path) -> AsyncIterator[Ui]:
    u, _ = await make_ui(db_url, tmp_path)
    yield u
    await u.client.aclose()
    await u.c.pool.aclose()
