"""A newcomer following the README from a terminal: what the CLI says when something is wrong
names the cause, and what it shows is usable as input to the next command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.helpdesk.simulator import create_app
from connectors.openapi.petstore_simulator import create_app as create_petstore
from tests.support.loopback import LoopbackServer
from tests.test_cli import env, sb

__all__ = ["env"]


def _openai_refusing_the_key() -> Starlette:
    """An OpenAI-compatible server that answers every call as OpenAI answers a wrong key."""

    async def refuse(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "error": {
                    "message": "Incorrect API key provided: sk-wrong.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_api_key",
                }
            },
            status_code=401,
        )

    return Starlette(routes=[Route("/{path:path}", refuse, methods=["GET", "POST"])])


def test_triage_with_a_wrong_model_key_says_why_the_runs_failed(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`SWITCHBOARD_MODEL=openai:… OPENAI_API_KEY=<wrong> switchboard triage FILE` fails every run.
    The summary says why (the 401, the key to check), not only "2 failed"."""
    with LoopbackServer(create_app()) as helpdesk, LoopbackServer(_openai_refusing_the_key()) as model:
        assert sb("connections", "add", "helpdesk", "--kind", "helpdesk", "--base-url", helpdesk.url)[0] == 0
        monkeypatch.setenv("SWITCHBOARD_MODEL", "openai:gpt-4o-mini")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
        monkeypatch.setenv("OPENAI_BASE_URL", f"{model.url}/v1")
        tickets = env / "tickets.jsonl"
        tickets.write_text(
            json.dumps(
                {
                    "subject": "Charged twice",
                    "body": "I was charged twice for order NW-48110, please refund one.",
                    "requester_email": "lena.fischer@example.com",
                }
            )
            + "\n"
        )
        _, triaged = sb("triage", str(tickets))
    _, listed = sb("runs", "list", "--status", "failed")
    said = triaged + listed
    assert "failed" in triaged, triaged
    assert "OPENAI_API_KEY" in said or "401" in said, (
        "a run failed on a wrong model key, and neither `triage` nor `runs list` says why:\n" + said
    )


def test_a_connection_whose_base_url_is_wrong_does_not_test_ok(env: Path) -> None:
    """README: `switchboard connections test pets` checks the connection, and `--live` "names
    every check that failed". An openapi connection whose base URL has a typo (every path 404s:
    `/sim/petstorr` for `/sim/petstore`) is not reported `ok`: a read its document defines and
    that needs no argument answers 404 there."""
    with LoopbackServer(create_petstore()) as petstore:
        code, out = sb(
            "connections",
            "add",
            "pets",
            "--kind",
            "openapi",
            "--base-url",
            petstore.url + "/this-path-does-not-exist",
            "--auth",
            "api_key",
            "--credential",
            "key=special-key",
            "--config",
            '{"spec": "petstore3", "header": "api_key"}',
        )
        assert code == 0, out
        code, out = sb("connections", "test", "pets")
        code_live, out_live = sb("connections", "test", "pets", "--live")
    assert code != 0, f"a base URL where nothing answers but 404 tested ok:\n{out}"
    assert code_live != 0, f"--live passed every check against a base URL that 404s:\n{out_live}"


def test_a_mistyped_connection_can_be_removed_or_replaced(env: Path) -> None:
    """A newcomer who mistypes a base URL removes the connection and adds it again (adding one of
    the same name is refused with "a connection named X exists already")."""
    args = ["--kind", "helpdesk", "--base-url"]
    assert sb("connections", "add", "desk", *args, "https://acme.zendesk.con")[0] == 0
    replaced = sb("connections", "add", "desk", *args, "https://acme.zendesk.com")[0] == 0
    if not replaced:
        code, out = sb("connections", "remove", "desk", "--yes")
        assert code == 0, f"no way to remove a mistyped connection:\n{out}"
        code, out = sb("connections", "add", "desk", *args, "https://acme.zendesk.com")
        assert code == 0, out


def test_the_token_id_tokens_list_shows_is_one_tokens_revoke_takes(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At a terminal's default 80 columns `tokens list` cuts the id to 'aa2f695ce5…'; `tokens
    revoke` takes what the list shows (any unique start of an id, as `approvals approve` does)."""
    monkeypatch.setenv("COLUMNS", "80")
    assert sb("tokens", "create", "--name", "temp-viewer", "--role", "viewer")[0] == 0
    code, out = sb("tokens", "list")
    assert code == 0, out
    [row] = [line for line in out.splitlines() if "temp-viewer" in line]
    shown = row.strip("│┃ ").split()[0].rstrip("…").strip("│ ")
    code, out = sb("tokens", "revoke", shown)
    assert code == 0, f"`tokens revoke {shown}` (the id as `tokens list` shows it) failed:\n{out}"


def test_connections_list_wide_is_readable_at_80_columns(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`switchboard connections list --wide` adds the base URL; at 80 columns its host stays
    readable on one line (the alerts fold, not the URL)."""
    monkeypatch.setenv("COLUMNS", "80")
    assert (
        sb("connections", "add", "helpdesk", "--kind", "helpdesk", "--base-url", "https://acme.zendesk.com")[
            0
        ]
        == 0
    )
    code, out = sb("connections", "list", "--wide")
    assert code == 0, out
    assert "acme.zendesk" in out, f"the base URL is not readable in `connections list --wide`:\n{out}"


def test_mcp_over_stdio_closes_its_connections_when_the_client_leaves(env: Path) -> None:
    """`switchboard mcp` is started by MCP clients (Claude Desktop, IDEs) that show its stderr.
    After a tool call, closing stdin ends the server; it closes its HTTP sessions first rather
    than print aiohttp's 'Unclosed client session' / 'Unclosed connector' warnings."""
    with LoopbackServer(create_app()) as helpdesk:
        assert sb("connections", "add", "helpdesk", "--kind", "helpdesk", "--base-url", helpdesk.url)[0] == 0
        messages = [
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-03-26",
                    "capabilities": {},
                    "clientInfo": {"name": "review", "version": "0"},
                },
            },
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "helpdesk__get_ticket", "arguments": {"ticket_id": 2}},
            },
        ]
        keep = (
            "DATABASE_URL",
            "SWITCHBOARD_DATA_DIR",
            "SWITCHBOARD_SECRET_KEY",
            "SWITCHBOARD_ALLOW_PRIVATE_NETWORK",
        )
        environ = {k: os.environ[k] for k in keep if k in os.environ} | {"PATH": os.environ.get("PATH", "")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "mcp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environ,
            cwd=str(Path(__file__).parents[1]),
            text=True,
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("\n".join(json.dumps(m) for m in messages[:2]) + "\n")
        proc.stdin.flush()
        assert '"id":1' in proc.stdout.readline().replace(" ", "")
        proc.stdin.write(json.dumps(messages[2]) + "\n")
        proc.stdin.flush()
        answer = proc.stdout.readline()
        assert '"id":2' in answer.replace(" ", ""), answer
        _, stderr = proc.communicate(timeout=60)
    assert "Unclosed" not in stderr, stderr


def test_revoking_a_token_by_its_name_says_to_give_its_id(env: Path) -> None:
    """`tokens revoke NAME` (the name given at creation) is refused saying to give the id that
    `tokens list` shows."""
    assert sb("tokens", "create", "--name", "viewer1", "--role", "viewer")[0] == 0
    code, out = sb("tokens", "revoke", "viewer1")
    assert code != 0
    assert "tokens list" in out and "id" in out, out
