"""The `switchboard` command as an operator uses it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
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
        # A person posts them: the owner of the API token found, who must be an operator ...
        viewer = sb("tokens", "create", "--name", "vic", "--role", "viewer")[1].strip()
        code, out = sb("triage", str(tickets), "--token", viewer)
        assert code == 2 and "this needs the operator role; vic has viewer" in out
        monkeypatch.setenv(
            "SWITCHBOARD_TOKEN", sb("tokens", "create", "--name", "otto", "--role", "operator")[1].strip()
        )
        code, out = sb("triage", str(tickets))
        assert code == 0, out
        from sqlalchemy import select

        from app.store.db import Database
        from app.store.tables import Run

        with Database(os.environ["DATABASE_URL"]).session() as s:
            assert {r.created_by for r in s.scalars(select(Run))} == {"otto"}
        assert "account_access" in out and "waiting_approval" in out
        code, out = sb("approvals", "list", "--json")
        pending = json.loads(out)
        assert pending and all(a["status"] == "pending" for a in pending)
        reply = next(a for a in pending if a["operation"] == "add_comment")
        monkeypatch.setenv(
            "SWITCHBOARD_TOKEN", sb("tokens", "create", "--name", "ann", "--role", "approver")[1]
        )
        assert sb("approvals", "reject", reply["id"], "--reason", "tone is off")[0] == 0
        code, out = sb("approvals", "approve", reply["id"])
        assert code == 2 and "no longer pending" in out
    bad = env / "bad.jsonl"
    bad.write_text('{"subject": "x"}\n')
    code, out = sb("triage", str(bad))
    assert code == 2 and "missing body, requester_email" in out
    # an id the help desk cannot have is refused, naming the line and the field; nothing is queued
    ticket = {"subject": "Cannot log in", "body": "Reset link", "requester_email": "a@b.co"}
    bad.write_text(
        json.dumps({**ticket, "external_id": 4}) + "\n" + json.dumps({**ticket, "external_id": "ext-77"})
    )
    before = sb("runs", "list", "--json")[1]
    code, out = sb("triage", str(bad))
    assert code == 2 and f"{bad}:2: external_id 'ext-77' is not a ticket id of helpdesk" in " ".join(
        out.split()
    )
    assert sb("runs", "list", "--json")[1] == before


def test_triage_of_a_file_needs_no_token_on_a_fresh_data_dir(env: Path) -> None:
    """No token anywhere (no demo ran, none given): the tickets are posted as `cli`, which names
    nobody, so the writes that commit the company (money, final, payee) want two approvers: the
    person who ran the command could otherwise approve a refund their own ticket asked for."""
    from sqlalchemy import select

    from app.agent.run import requester_unknown
    from app.store.db import Database
    from app.store.tables import Run
    from connectors.base import Effects, Money
    from tools.base import Tool

    tickets = env / "tickets.jsonl"
    tickets.write_text(
        json.dumps({"subject": "Cannot log in", "body": "Reset link", "requester_email": "a@b.co"})
    )
    code, out = sb("triage", str(tickets))
    assert code == 0, out
    with Database(os.environ["DATABASE_URL"]).session() as s:
        [run] = s.scalars(select(Run)).all()
    assert run.created_by == "cli" and run.input["posted_by"] == "cli"

    def write(operation: str, effects: Effects) -> Tool:
        async def never(_args: dict[str, Any], _key: str | None) -> None: ...

        name = f"sys__{operation}"
        return Tool(name, "sys", operation, "", {}, "write", "key", never, effects=effects)

    refund, reply = (
        write("create_refund", Effects(money=Money())),
        write("add_comment", Effects(reversible=True)),
    )
    assert requester_unknown(run.input, refund) and not requester_unknown(run.input, reply)


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


def test_approvals_act_as_the_tokens_identity_not_a_typed_name(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--as` defaulted to a fixed name, which passed four eyes against whoever asked for the write."""
    from app.config import Settings
    from app.main import Container
    from app.services import approvals, intake

    monkeypatch.delenv("SWITCHBOARD_TOKEN", raising=False)
    assert sb("db", "upgrade")[0] == 0
    c = Container(Settings())
    run_id, _ = intake.submit(c.db, kind="ticket", run_kind="triage", payload={}, source="t", actor="t")
    with c.db.session() as s:
        from app.store.tables import Action

        a = Action(
            run_id=run_id,
            tool_call_id="c1",
            tool="helpdesk__update_ticket",
            connection="helpdesk",
            operation="update_ticket",
            arguments={"ticket_id": 1, "priority": "low"},
            proposed_arguments={"ticket_id": 1, "priority": "low"},
            requested_by="dana",
        )
        s.add(a)
        s.flush()
        action_id = a.id
    code, out = sb("approvals", "reject", action_id, "--reason", "no")
    assert code == 2 and "token" in out
    viewer = sb("tokens", "create", "--name", "vic", "--role", "viewer")[1].strip()
    code, out = sb("approvals", "reject", action_id, "--reason", "no", "--token", viewer)
    assert code == 2 and "approver role" in out
    code, out = sb("approvals", "reject", action_id, "--reason", "no", "--token", "sb_made_up")
    assert code == 2 and "unknown" in out
    code, out = sb("approvals", "reject", action_id, "--as", "someone-else", "--reason", "no")
    assert code == 2  # no name typed on the command line
    dana = sb("tokens", "create", "--name", "dana", "--role", "approver")[1].strip()
    monkeypatch.setenv("SWITCHBOARD_TOKEN", dana)
    code, out = sb("approvals", "reject", action_id, "--reason", "not now")
    assert code == 2 and "four eyes" in out  # dana asked for it; her token cannot decide it
    erin = sb("tokens", "create", "--name", "erin", "--role", "approver")[1].strip()
    code, out = sb("approvals", "reject", action_id, "--reason", "not now", "--token", erin)
    assert code == 0, out
    assert approvals.get_action(c.db, action_id)["decided_by"] == "erin"


def _open_ticket_ids(url: str) -> list[int]:
    import httpx

    found = httpx.get(f"{url}/api/v2/search.json", params={"query": "type:ticket status<solved"}).json()
    return [r["id"] for r in found["results"]]


def test_triage_source_skips_tickets_that_have_a_run(env: Path) -> None:
    """One ticket of one system is one item: the API, a file and a pull from the help desk agree."""
    from app.config import Settings
    from app.main import Container
    from app.services import intake

    with LoopbackServer(create_app()) as server:
        assert sb("connections", "add", "helpdesk", "--kind", "helpdesk", "--base-url", server.url)[0] == 0
        first, second, third = _open_ticket_ids(server.url)[:3]
        c = Container(Settings())
        via_api, _ = intake.submit(
            c.db,
            kind="ticket",
            run_kind="triage",
            payload={"subject": "s", "body": "b", "requester_email": "a@example.com", "external_id": first},
            source="api",
            actor="api-client",
        )
        via_file = env / "t.jsonl"
        via_file.write_text(
            json.dumps(
                {"subject": "s", "body": "b", "requester_email": "a@example.com", "external_id": second}
            )
        )
        operator = sb("tokens", "create", "--name", "otto", "--role", "operator")[1].strip()
        assert sb("triage", str(via_file), "--token", operator)[0] == 0

        code, out = sb("triage", "--source", "helpdesk", "--limit", "3")
        assert code == 0, out
        assert f"2 skipped, already triaged (#{first}, #{second})" in out
        assert "1 waiting_approval" in out

        code, out = sb("triage", "--source", "helpdesk", "--limit", "3")
        assert code == 0 and "3 skipped" in out and "waiting_approval" not in out

        replies = [
            a for a in json.loads(sb("approvals", "list", "--json")[1]) if a["operation"] == "add_comment"
        ]
        # one proposed reply per ticket (the CLI's worker also advanced the API's run)
        assert sorted(a["arguments"]["ticket_id"] for a in replies) == sorted([first, second, third])

        code, out = sb("triage", "--source", "helpdesk", "--limit", "1", "--again")
        assert code == 0 and "skipped" not in out and "1 waiting_approval" in out
        assert (
            intake.existing_run(c.db, "ticket", "helpdesk", first) == via_api
        )  # the first run stays the item's
        c.db.dispose()


def test_ids_any_unique_prefix_and_shown_short(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.services.errors import Invalid
    from app.services.lookup import shortest_unique, unique_id
    from app.store.db import Database
    from app.store.tables import Action, Run

    assert sb("db", "upgrade")[0] == 0
    db = Database(f"sqlite:///{env / 'cli.db'}")
    ids = [
        "174c1baca82d4e0f9a1b2c3d4e5f6a7b",
        "174c1baca83d4e0f9a1b2c3d4e5f6a7b",
        "9f00aa11bb22cc33dd44ee55ff667788",
    ]
    with db.session() as s:
        s.add(Run(id="r" * 32, kind="triage", status="waiting_approval"))
        s.flush()
        for n, i in enumerate(ids):
            s.add(
                Action(
                    id=i,
                    run_id="r" * 32,
                    tool_call_id=f"c{n}",
                    tool="helpdesk__add_comment",
                    connection="helpdesk",
                    operation="add_comment",
                    arguments={"ticket_id": 1, "body": "hi"},
                    proposed_arguments={"ticket_id": 1, "body": "hi"},
                )
            )
    assert shortest_unique(ids) == {ids[0]: "174c1baca82", ids[1]: "174c1baca83", ids[2]: "9f00aa11"}
    assert unique_id(db, Action, "9f00", "action") == ids[2]
    with pytest.raises(Invalid, match="174c1baca8 is ambiguous: 2 actions start with it"):
        unique_id(db, Action, "174c1baca8", "action")

    code, out = sb("approvals", "list")
    assert code == 0 and "174c1baca82 " in out and "174c1baca83 " in out and "9f00aa11 " in out
    monkeypatch.setenv("COLUMNS", "80")  # a plain terminal: the ids still fit, whole
    code, out = sb("approvals", "list")
    assert (
        code == 0 and "174c1baca82 " in out and "9f00aa11 " in out and max(map(len, out.splitlines())) <= 80
    )
    monkeypatch.setenv(
        "SWITCHBOARD_TOKEN", sb("tokens", "create", "--name", "pat", "--role", "approver")[1].strip()
    )
    code, out = sb("approvals", "reject", "174c1baca8", "--reason", "no")
    assert code == 2 and "ambiguous" in out and "give more characters" in out
    code, out = sb("approvals", "reject", "174c1baca83", "--reason", "no")
    assert code == 0 and f"rejected {ids[1]}" in out
    code, out = sb("approvals", "approve", "0000")
    assert code == 2 and "no action 0000" in out
    db.dispose()


def test_missing_tables_say_what_to_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SWITCHBOARD_DATA_DIR", raising=False)
    monkeypatch.setenv("SWITCHBOARD_TOKEN", "a-token-to-look-up")  # deciding reads the token's identity first
    monkeypatch.chdir(tmp_path)
    for args in (
        ["approvals", "list"],
        ["connections", "list"],
        ["tokens", "list"],
        ["approvals", "approve", "ab"],
        ["worker"],
    ):
        result = runner.invoke(app, ["--data-dir", "empty", *args])
        assert result.exit_code == 2, (args, result.output)
        assert "run switchboard db upgrade" in result.output and "empty/switchboard.db" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_finds_the_demo_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Beside `make demo`, commands read the demo's data and say so; explicit choices win."""
    import os

    from app.cli.where import write_demo_note

    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SWITCHBOARD_DATA_DIR", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    demo = tmp_path / "elsewhere" / "demo-data"
    assert (
        runner.invoke(
            app, ["--data-dir", str(demo), "tokens", "create", "--name", "d", "--role", "admin"]
        ).exit_code
        == 0
    )
    write_demo_note(demo, "http://127.0.0.1:8100")
    assert json.loads((tmp_path / ".switchboard" / "demo.json").read_text())["pid"] == os.getpid()

    result = runner.invoke(app, ["tokens", "list"])
    assert result.exit_code == 0, result.output
    assert "using the running demo's database" in result.output and " d " in result.output
    assert "--data-dir DIR, SWITCHBOARD_DATA_DIR or DATABASE_URL" in result.output

    result = runner.invoke(app, ["--data-dir", "mine", "db", "upgrade"])
    assert result.exit_code == 0 and "mine/switchboard.db" in result.output and "using" not in result.output


async def test_batch_waits_for_runs_another_worker_holds(env: Path) -> None:
    """Beside a running demo its worker claims some of the batch: the bar still reaches the end."""
    import asyncio
    from io import StringIO

    from rich.console import Console

    from app.cli.batch import _advance
    from app.config import Settings
    from app.main import Container
    from app.services import intake
    from app.services.views import run_view

    with LoopbackServer(create_app()) as server:
        c = Container(Settings())
        c.db.upgrade()
        from app.services.connections import add_connection

        add_connection(c.db, c.box, name="helpdesk", kind="helpdesk", base_url=server.url)
        payloads = [
            {
                "subject": f"Cannot log in {n}",
                "body": "My password reset link does not work",
                "requester_email": "a@example.com",
            }
            for n in range(3)
        ]
        run_ids = [
            intake.submit(c.db, kind="ticket", run_kind="triage", payload=p, source="cli", actor="cli")[0]
            for p in payloads
        ]
        assert c.store.claim_run(run_ids[1], "demo-worker", 120.0)  # another worker holds this one

        async def other_worker() -> None:  # finishes its run a while after this process ran out of work
            while any(run_view(c.db, r)["status"] in ("queued", "running") for r in (run_ids[0], run_ids[2])):
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)
            await c.orchestrator.advance(run_ids[1], "demo-worker")
            c.store.release(run_ids[1], "demo-worker")

        out = StringIO()
        other = asyncio.create_task(other_worker())
        await _advance(c, Console(file=out, width=100), run_ids, wait_seconds=60)
        assert [run_view(c.db, r)["status"] for r in run_ids] == ["waiting_approval"] * 3
        await other
        await c.pool.aclose()
        assert [run_view(c.db, r)["status"] for r in run_ids] == ["waiting_approval"] * 3
        assert "3/3" in out.getvalue()
        c.db.dispose()


def stdio_server(env: Path, token: str | None) -> StdioServerParameters:
    """`switchboard mcp` as an MCP client (Claude Desktop, an IDE) starts it: a process on stdio."""
    keep = (
        "DATABASE_URL",
        "SWITCHBOARD_DATA_DIR",
        "SWITCHBOARD_SECRET_KEY",
        "SWITCHBOARD_ALLOW_PRIVATE_NETWORK",
    )
    environ = {k: os.environ[k] for k in keep if k in os.environ} | {"PATH": os.environ.get("PATH", "")}
    if token is not None:
        environ["SWITCHBOARD_TOKEN"] = token
    return StdioServerParameters(
        command=sys.executable, args=["-m", "app", "mcp"], env=environ, cwd=str(Path(__file__).parents[1])
    )


async def test_mcp_over_stdio_asks_as_its_tokens_owner(env: Path) -> None:
    """Over stdio the requester is the owner of the token the server was started with; without
    one it answers reads and proposes no write, rather than filing one anyone could approve."""
    from app.services import approvals
    from app.store.db import Database

    sim = create_app()
    with LoopbackServer(sim) as server:
        assert sb("connections", "add", "helpdesk", "--kind", "helpdesk", "--base-url", server.url)[0] == 0
        olga = sb("tokens", "create", "--name", "olga", "--role", "approver")[1].strip()
        comment = {"ticket_id": 2, "body": "Asked over stdio", "public": False}
        async with Client(stdio_server(env, olga)) as client:
            asked = await client.call_tool("helpdesk__add_comment", comment)
        async with Client(stdio_server(env, None)) as client:
            read = await client.call_tool("helpdesk__get_ticket", {"ticket_id": 2})
            nobody = await client.call_tool("helpdesk__add_comment", comment)
    assert asked.is_error is False, asked.content
    assert read.is_error is False
    assert nobody.is_error and "does not know who is asking" in nobody.content[0].text  # type: ignore[union-attr]
    db = Database(os.environ["DATABASE_URL"])
    [action] = approvals.list_actions(db, None)
    db.dispose()
    assert action["id"] == asked.structured_content["action_id"]  # type: ignore[index]
    assert action["requested_by"] == "olga"
    code, out = sb("approvals", "approve", action["id"], "--token", olga)
    assert code == 2 and "four eyes" in out


def test_audit_and_decisions_find_the_database_every_command_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`audit verify|export` and `eval decisions` use the running demo's data (or --data-dir's) as
    every other command does, and a read never leaves an empty database for later commands to pick."""
    from app.cli.where import write_demo_note

    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SWITCHBOARD_DATA_DIR", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    demo = tmp_path / "demo-data"
    made = runner.invoke(app, ["--data-dir", str(demo), "tokens", "create", "--name", "d", "--role", "admin"])
    assert made.exit_code == 0, made.output

    nowhere = runner.invoke(app, ["audit", "verify"])  # no demo yet, nothing in .switchboard
    assert nowhere.exit_code == 2, nowhere.output
    assert ".switchboard/switchboard.db does not exist yet" in nowhere.stderr
    assert "run switchboard db upgrade" in nowhere.stderr
    assert not (tmp_path / ".switchboard").exists()

    write_demo_note(demo, "http://127.0.0.1:8100")
    out = tmp_path / "audit.jsonl"
    for args in (
        ["audit", "verify"],
        ["audit", "export", "--out", str(out)],
        ["eval", "decisions", "--json"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
        assert "using the running demo's database" in result.stderr, args
    assert any('"token.created"' in line for line in out.read_text().splitlines())
    assert not (tmp_path / ".switchboard" / "switchboard.db").exists()

    for args in (["audit", "verify"], ["audit", "export"], ["eval", "decisions"]):
        result = runner.invoke(app, ["--data-dir", "other", *args])
        assert result.exit_code == 2, (args, result.output)
        assert "other/switchboard.db does not exist yet" in result.stderr, args
        assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "other").exists()
    assert "audit chain intact" in runner.invoke(app, ["--data-dir", str(demo), "audit", "verify"]).stdout


def test_connections_add_beside_the_demo_reaches_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README adds systems against the demo's simulators on loopback: beside the demo,
    `connections add` has the demo's loopback reach, as `connections test` does; elsewhere
    private addresses still need SWITCHBOARD_ALLOW_PRIVATE_NETWORK."""
    from app.cli.where import write_demo_note

    for var in ("DATABASE_URL", "SWITCHBOARD_DATA_DIR", "SWITCHBOARD_ALLOW_PRIVATE_NETWORK"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    demo = tmp_path / "demo-data"
    assert runner.invoke(app, ["--data-dir", str(demo), "db", "upgrade"]).exit_code == 0
    write_demo_note(demo, "http://127.0.0.1:8100")
    add = [
        "connections",
        "add",
        "pets",
        "--kind",
        "helpdesk",
        "--base-url",
        "http://127.0.0.1:8100/sim/helpdesk",
    ]

    result = runner.invoke(app, add)
    assert result.exit_code == 0, result.output
    assert "added connection pets" in result.stdout
    assert "pets" in runner.invoke(app, ["connections", "list"]).stdout

    result = runner.invoke(app, ["--data-dir", "mine", *add])
    assert result.exit_code == 2 and "SWITCHBOARD_ALLOW_PRIVATE_NETWORK" in result.output


def test_triage_source_names_a_wrong_connection_in_one_line(env: Path) -> None:
    """No traceback for a typo or for a system that has no tickets: one error line, exit 2."""
    assert (
        sb("connections", "add", "payments", "--kind", "payments", "--base-url", "http://127.0.0.1:9")[0] == 0
    )
    result = runner.invoke(app, ["triage", "--source", "nosuch"])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == "error: no connection nosuch"
    result = runner.invoke(app, ["triage", "--source", "payments"])
    assert result.exit_code == 2, result.output
    assert "error: payments offers no ticket search (it is a payments connection)" in result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, AttributeError)


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ("bogus", "unknown model spec 'bogus'"),
        ("openai:gpt-4o-mini", "needs OPENAI_API_KEY to be set"),
        ("anthropic:claude-sonnet-4-5", "needs ANTHROPIC_API_KEY to be set"),
    ],
)
def test_a_model_that_cannot_be_built_stops_before_anything_starts(
    spec: str, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One error line and exit 2 from demo, serve and worker: no "ready" banner, no server."""
    import socket

    import uvicorn

    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SWITCHBOARD_MODEL", spec)
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: served.append(a))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    for args in (
        ["demo", "--port", port, "--data-dir", str(tmp_path / "demo")],
        ["serve", "--port", port, "--worker"],
        ["worker", "--once"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        said_in_one_line = [line for line in result.output.splitlines() if line.startswith("error: ")]
        assert len(said_in_one_line) == 1 and said in said_in_one_line[0], (args, result.output)
        assert "ready" not in result.output and "admin token" not in result.output, args
        assert result.exception is None or isinstance(result.exception, SystemExit), args
    assert served == []


def test_a_postgresql_database_that_does_not_exist_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server answers but the database is not there yet: one line saying to create it."""
    import uuid

    from sqlalchemy.engine import make_url

    from app.store.db import normalize_url

    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip(
            "PostgreSQL tests need TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)"
        )
    name = f"switchboard_missing_{uuid.uuid4().hex[:8]}"
    url = make_url(normalize_url(base)).set(database=name)
    monkeypatch.setenv("DATABASE_URL", url.render_as_string(hide_password=False))
    monkeypatch.setenv("COLUMNS", "200")
    for args in (["db", "upgrade"], ["approvals", "list"], ["worker", "--once"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: the database postgresql"), (args, lines)
        assert f"/{name} does not exist: create it (createdb {name} on its server)" in lines[0], args
        assert result.exception is None or isinstance(result.exception, SystemExit), args


def test_approving_an_edited_write_names_the_version_read(env: Path) -> None:
    """Once someone edited a write, `approvals approve` applies only with `--version` (what
    `approvals list --json` showed): a click on arguments one never read approves nothing."""
    from app.services import approvals
    from app.store.db import Database
    from app.store.tables import Action, Run

    assert sb("db", "upgrade")[0] == 0
    lee = sb("tokens", "create", "--name", "lee", "--role", "approver")[1].strip()
    proposed = {"charge_id": "ch_1", "amount": 1000}
    edited = {"charge_id": "ch_1", "amount": 9000}
    db = Database(os.environ["DATABASE_URL"])
    with db.session() as s:
        run = Run(kind="triage", input={}, status="waiting_approval")
        s.add(run)
        s.flush()
        action = Action(
            run_id=run.id,
            tool_call_id="c1",
            tool="payments__create_refund",
            connection="payments",
            operation="create_refund",
            arguments=edited,
            proposed_arguments=proposed,
            required_approvals=2,
            approvals=[{"by": "pat", "at": "2026-12-04T10:00:00+00:00", "edited": True}],
        )
        s.add(action)
        s.flush()
        action_id = action.id
    version = approvals.get_action(db, action_id)["version"]

    code, out = sb("approvals", "approve", action_id, "--token", lee)
    assert code == 2 and "was edited by pat after it was proposed" in out
    code, out = sb("approvals", "approve", action_id, "--token", lee, "--version", "0123456789abcdef")
    assert code == 2 and "was edited since you read it" in out
    assert approvals.get_action(db, action_id)["status"] == "pending"
    code, out = sb("approvals", "approve", action_id, "--token", lee, "--version", version)
    assert code == 0, out
    assert approvals.get_action(db, action_id)["status"] == "approved"
    db.dispose()
