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
    assert code == 2 and "--config" in out


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


def test_connections_test_live_says_exactly_what_failed(env: Path) -> None:
    """A loopback server plays Stripe: the key works, but the restricted key may not read disputes."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from connectors.payments.simulator import create_app as stripe_app
    from connectors.simulator_base import SimulatorAuth

    key = "rk_live_restricted"
    vendor = FastAPI()

    @vendor.get("/v1/disputes")
    async def no_disputes() -> JSONResponse:
        message = f"The provided key '{key[:8]}***' does not have the required permissions for this endpoint"
        return JSONResponse({"error": {"type": "invalid_request_error", "message": message}}, status_code=403)

    vendor.mount("/", stripe_app(auth=SimulatorAuth(bearer=frozenset({key}))))
    with LoopbackServer(vendor) as server:
        base = ("connections", "add")
        assert sb(*base, "pay", "--kind", "payments", "--base-url", server.url, "--auth", "bearer",
                  "--credential", f"token={key}")[0] == 0  # fmt: skip
        code, out = sb("connections", "test", "pay", "--live")
        assert code != 0
        assert "pay check: ok" in out and "pay find_customer: ok" in out and "pay list_refunds: ok" in out
        assert "pay list_disputes: FAILED GET /v1/disputes answered 403" in " ".join(out.split())
        assert "does not have the required permissions" in out
        assert "1 of 4 live checks failed: list_disputes" in " ".join(out.split())
        assert key not in out

        assert sb(*base, "sim", "--kind", "payments", "--base-url", server.url + "/", "--auth", "bearer",
                  "--credential", "token=sk_wrong")[0] == 0  # fmt: skip
        code, out = sb("connections", "test", "sim", "--live")
        assert code != 0 and "GET /v1/account answered 401" in " ".join(out.split())

        assert sb(*base, "open", "--kind", "payments", "--base-url", server.url)[0] == 0
        code, out = sb("connections", "test", "open", "--live")
        assert code == 2 and "no key configured" in out


def test_connections_test_live_passes_against_a_faithful_vendor(env: Path) -> None:
    with LoopbackServer(create_app()) as server:
        assert sb("connections", "add", "desk", "--kind", "helpdesk", "--base-url", server.url,
                  "--auth", "zendesk_token", "--credential", "email=bot@example.com",
                  "--credential", "token=t0k")[0] == 0  # fmt: skip
        code, out = sb("connections", "test", "desk", "--live")
        assert code == 0, out
        for check in ("check", "search_tickets", "audits", "search_articles"):
            assert f"desk {check}: ok" in out
