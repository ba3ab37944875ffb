"""Secrets and reach: no built-in key for stored credentials, connections kept off this machine and
private networks unless allowed, fetched content never quoted back, chats seen by their owner."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from app.api.app import create_app
from app.cli.main import app as cli
from app.config import Settings
from app.demo import demo_secret, demo_settings
from app.main import Container
from app.services import chat
from app.services.auth import Principal, create_token
from app.services.connections import ConnectorPool, add_connection
from app.services.errors import Invalid
from app.store.crypto import MissingSecretKey
from app.store.tables import Connection
from connectors.helpdesk.simulator import create_app as helpdesk_app
from connectors.http import build_client
from connectors.reach import PrivateAddress
from tests.support.app import container
from tests.support.loopback import LoopbackServer

runner = CliRunner()


# -- the secret key ---------------------------------------------------------------------------------
@pytest.fixture
def no_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SWITCHBOARD_SECRET_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'sb.db'}")
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def test_commands_that_touch_credentials_refuse_to_start_without_a_key(
    no_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: served.append(a))
    for args in (
        ["serve"],
        ["worker", "--once"],
        ["connections", "add", "desk", "--kind", "helpdesk", "--base-url", "https://desk.example.com"],
        ["connections", "test", "desk"],
        ["approvals", "approve", "some-id", "--token", "sb_x"],
        ["triage", "--source", "desk"],
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert "SWITCHBOARD_SECRET_KEY is not set" in result.output and "export" in result.output, args
        assert result.output.startswith("error: SWITCHBOARD_SECRET_KEY"), args  # styled, not "[red]"
    assert served == []  # the server never started
    # what does not touch credentials still works
    assert runner.invoke(cli, ["tokens", "create", "--name", "ops", "--role", "viewer"]).exit_code == 0
    with pytest.raises(MissingSecretKey):
        Container(Settings()).box  # noqa: B018


def test_only_the_demo_has_a_key_of_its_own_kept_in_its_data_dir(no_key: Path) -> None:
    first = demo_secret(no_key)
    assert len(first) >= 32 and demo_secret(no_key) == first  # kept, not made up again
    mode = stat.S_IMODE((no_key / "secret-key").stat().st_mode)
    assert mode == 0o600
    (no_key / "other").mkdir()
    assert demo_secret(no_key / "other") != first  # each data dir its own
    settings = demo_settings(no_key, "http://127.0.0.1:8000")
    assert settings.secret_key == first and settings.allow_private_network
    import app.main

    assert "DEV_SECRET" not in vars(app.main)  # no constant in the source to fall back on


# -- reach ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "base_url", "config"),
    [
        ("base_url", "http://127.0.0.1:8080", {}),
        ("base_url", "http://localhost/api", {}),
        ("base_url", "http://169.254.169.254/latest/meta-data", {}),
        ("base_url", "http://10.0.0.5", {}),
        ("base_url", "http://192.168.1.10:9000", {}),
        ("base_url", "http://[::1]:8000", {}),
        ("base_url", "http://[::ffff:127.0.0.1]/", {}),
        ("base_url", "http://2130706433/", {}),  # 127.0.0.1 as one number
        ("config.token_url", "https://api.example.com", {"token_url": "http://169.254.169.254/token"}),
        ("config.spec", "https://api.example.com", {"spec": "http://127.0.0.1:9/openapi.json"}),
        ("config.spec", "https://api.example.com", {"spec": "/etc/passwd"}),
    ],
)
def test_connections_may_not_reach_private_addresses_by_default(
    db_url: str, tmp_path: Path, field: str, base_url: str, config: dict[str, Any]
) -> None:
    c = container(db_url, tmp_path)
    kind = "openapi" if "spec" in config else "helpdesk"
    auth = "oauth2_client_credentials" if "token_url" in config else "none"
    creds = {"client_id": "a", "client_secret": "b"} if auth != "none" else {}
    with pytest.raises(Invalid) as err:
        add_connection(
            c.db,
            c.box,
            name="x",
            kind=kind,
            base_url=base_url,
            auth_type=auth,
            credentials=creds,
            config=config,
            allow_private=False,
        )
    assert err.value.field == field and "SWITCHBOARD_ALLOW_PRIVATE_NETWORK" in err.value.message
    # the explicit setting allows it
    add_connection(
        c.db,
        c.box,
        name="x",
        kind="helpdesk",
        base_url="http://127.0.0.1:8080",
        allow_private=True,
    )


async def test_a_guarded_client_never_connects_to_a_private_address() -> None:
    with LoopbackServer(helpdesk_app()) as server:
        async with build_client(server.url, public_only=True) as client:
            with pytest.raises(PrivateAddress, match="loopback"):
                await client.get("/api/v2/tickets.json")
        async with build_client(server.url) as client:  # allowed: reaches it
            assert (await client.get("/api/v2/tickets.json")).status_code in (200, 401)


async def test_a_stored_connection_to_a_private_address_is_refused_when_used(
    db_url: str, tmp_path: Path
) -> None:
    """A connection stored while private reach was allowed is not used once it is not."""
    hits: list[str] = []
    sim = helpdesk_app()

    @sim.middleware("http")
    async def count(request: Any, call_next: Any) -> Any:
        hits.append(request.url.path)
        return await call_next(request)

    c = container(db_url, tmp_path)
    with LoopbackServer(sim) as server:
        add_connection(c.db, c.box, name="desk", kind="helpdesk", base_url=server.url, allow_private=True)
        pool = ConnectorPool(c.db, c.box, allow_private=False)
        try:
            with pytest.raises(
                Exception,
                match=r"connection desk: cannot build the connector: .*SWITCHBOARD_ALLOW_PRIVATE_NETWORK",
            ):
                await pool.test("desk")
        finally:
            await pool.aclose()
        with c.db.session() as s:
            row = s.query(Connection).filter_by(name="desk").one()
            assert row.status == "error" and "SWITCHBOARD_ALLOW_PRIVATE_NETWORK" in (row.last_error or "")
    assert hits == []


def test_errors_never_quote_what_a_spec_source_held(db_url: str, tmp_path: Path) -> None:
    secret_file = tmp_path / "settings.yaml"
    secret_file.write_text('root:x:0:0:root:/root:/bin/bash\ndb_password: "hunter2" : bad\n')
    not_openapi = tmp_path / "config.yaml"
    not_openapi.write_text("openapi: hunter2\n")
    c = container(db_url, tmp_path)
    for i, path in enumerate((secret_file, not_openapi)):
        add_connection(
            c.db,
            c.box,
            name=f"spec{i}",
            kind="openapi",
            base_url="https://api.example.com",
            config={"spec": str(path)},
            allow_private=True,
        )
    c.pool.catalogue()
    with c.db.session() as s:
        errors = [r.last_error or "" for r in s.query(Connection).filter(Connection.name.like("spec%"))]
    assert len(errors) == 2 and all("cannot build" in e for e in errors)
    assert not any("hunter2" in e or "root:" in e for e in errors), errors


# -- chats are their owner's ---------------------------------------------------------------------------
@pytest.fixture
async def api(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    c = container(db_url, tmp_path)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(c)), base_url="http://sb"
    ) as client:
        yield c, client
    await c.pool.aclose()
    c.db.dispose()


async def test_a_chat_is_seen_by_its_owner_and_admins_only(api: tuple[Container, httpx.AsyncClient]) -> None:
    c, client = api
    tokens = {
        n: create_token(c.db, n, role)[1]
        for n, role in [("ann", "viewer"), ("bob", "approver"), ("root", "admin")]
    }
    run_id, _ = chat.start_turn(c.db, "my salary question", None, Principal("ann", "viewer"))

    def h(name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[name]}"}

    r = await client.get(f"/api/v1/runs/{run_id}", headers=h("bob"))
    assert r.status_code == 404 and "salary" not in r.text
    assert run_id not in {x["id"] for x in (await client.get("/api/v1/runs", headers=h("bob"))).json()}
    assert (await client.get(f"/api/v1/runs/{run_id}/events", headers=h("bob"))).status_code == 404
    page = await client.get(f"/ui/runs/{run_id}", headers=h("bob"))
    assert page.status_code == 404 and "salary" not in page.text
    assert "salary" not in (await client.get("/ui/runs", headers=h("bob"))).text
    for who in ("ann", "root"):
        r = await client.get(f"/api/v1/runs/{run_id}", headers=h(who))
        assert r.status_code == 200 and r.json()["input"]["chat"]["message"] == "my salary question"
        assert run_id in {x["id"] for x in (await client.get("/api/v1/runs", headers=h(who))).json()}
