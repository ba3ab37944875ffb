"""The `switchboard` command as an operator uses it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from connectors.helpdesk.simulator import create_app
from tests.support.loopback import LoopbackServer

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SWITCHBOARD_SECRET_KEY", "cli-test-secret-key-0123456789")
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def sb(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_db_tokens_and_bad_input(env: Path) -> None:
    assert sb("db", "upgrade")[0] == 0
    code, out = sb("tokens", "create", "--name", "ops", "--role", "approver")
    assert code == 0 and out.strip().startswith("sb_")
    code, out = sb("tokens", "create", "--name", "ops", "--role", "wizard")
    assert code == 2 and "role must be one of" in out
    assert "ops" in sb("tokens", "list")[1]


def test_connections_add_list_test(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HD_TOKEN", "from-the-environment")
    with LoopbackServer(create_app()) as server:
        code, out = sb(
            "connections",
            "add",
            "desk",
            "--kind",
            "helpdesk",
            "--base-url",
            server.url,
            "--auth",
            "zendesk_token",
            "--credential",
            "email=bot@example.com",
            "--credential",
            "token=env:HD_TOKEN",
            "--owner",
            "it-team",
        )
        assert code == 0, out
        code, out = sb("connections", "test", "desk")
        assert code == 0 and "desk: ok" in out
    code, out = sb("connections", "list")
    assert "desk" in out and "it-team" in out and "from-the-environment" not in out
    code, out = sb("connections", "add", "x", "--kind", "fax", "--base-url", "http://x")
    assert code == 2 and "kind must be one of" in out
    code, out = sb(
        "connections", "add", "y", "--kind", "helpdesk", "--base-url", "http://y", "--config", "[1]"
    )
    assert code == 2 and "--config must be a JSON object" in out
    code, out = sb("connections", "add", "y", "--kind", "helpdesk", "--base-url", "http://y", "--config", "{")
    assert code == 2 and "--config is not valid JSON" in out


def test_connections_add_takes_config(env: Path) -> None:
    """--config reaches the stored connection: OAuth2 needs its token_url, openapi its spec."""
    oauth = [
        "--auth",
        "oauth2_client_credentials",
        "--credential",
        "client_id=a",
        "--credential",
        "client_secret=b",
    ]
    code, out = sb("connections", "add", "desk", "--kind", "helpdesk", "--base-url", "http://desk", *oauth)
    assert code == 2 and "needs config.token_url" in out
    code, out = sb(
        "connections",
        "add",
        "desk",
        "--kind",
        "helpdesk",
        "--base-url",
        "http://desk",
        *oauth,
        "--config",
        '{"token_url": "http://desk/oauth/tokens", "scope": "read"}',
    )
    assert code == 0, out
    code, out = sb(
        "connections",
        "add",
        "shop",
        "--kind",
        "openapi",
        "--base-url",
        "http://shop/api/v3",
        "--config",
        '{"spec": "petstore3", "header": "api_key"}',
    )
    assert code == 0, out
    from app.store.db import Database
    from app.store.tables import Connection

    db = Database(f"sqlite:///{env / 'cli.db'}")
    with db.session() as s:
        stored = {r.name: r.config for r in s.query(Connection).all()}
    db.dispose()
    assert stored == {
        "desk": {"token_url": "http://desk/oauth/tokens", "scope": "read"},
        "shop": {"spec": "petstore3", "header": "api_key"},
    }


def test_triage_file_and_approvals(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = create_app()
    with LoopbackServer(sim) as server:
        assert sb("connections", "add", "helpdesk", "--kind", "helpdesk", "--base-url", server.url)[0] == 0
        tickets = env / "tickets.jsonl"
        tickets.write_text(
            json.dumps(
                {
                    "subject": "Cannot log in",
                    "body": "My password reset link does not work",
                    "requester_email": "ann.lee@example.com",
                    "external_id": 3,
                }
            )
            + "\n"
        )
        code, out = sb("triage", str(tickets))
        assert code == 0, out
        assert "account_access" in out and "waiting_approval" in out
        code, out = sb("approvals", "list", "--json")
        pending = json.loads(out)
        assert pending and all(a["status"] == "pending" for a in pending)
        reply = next(a for a in pending if a["operation"] == "add_comment")
        assert sb("approvals", "reject", reply["id"], "--reason", "tone is off")[0] == 0
        code, out = sb("approvals", "approve", reply["id"])
        assert code == 2 and "no longer pending" in out
    bad = env / "bad.jsonl"
    bad.write_text('{"subject": "x"}\n')
    code, out = sb("triage", str(bad))
    assert code == 2 and "missing body, requester_email" in out
