"""`switchboard --help` and every subcommand's help, as a newcomer reads them."""

from __future__ import annotations

from typing import Any

import typer
import typer.testing

from app.cli.main import app


def _leaves(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for name, cmd in group.commands.items():
        path = f"{prefix} {name}".strip()
        if hasattr(cmd, "commands"):
            out += _leaves(cmd, path)
        else:
            out.append((path, cmd))
    return out


def test_every_command_says_what_it_does() -> None:
    """The README's Commands table gives each command a line (`approvals ... approve ID [--version
    V] | reject ID --reason TEXT`, `connections ... add ... | test NAME [--live]`, `tokens ... list
    | revoke ID`). Its `--help`, and the command list of its group, say what it does too."""
    command = typer.main.get_command(app)
    assert hasattr(command, "commands")
    silent = [path for path, cmd in _leaves(command) if not (cmd.help or cmd.short_help or "").strip()]
    assert not silent, f"commands whose --help says nothing about what they do: {silent}"


def test_tokens_create_help_names_the_roles() -> None:
    """README: roles `viewer`, `operator`, `approver`, `admin`: `switchboard tokens create --help`
    names them."""
    result = typer.testing.CliRunner().invoke(app, ["tokens", "create", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert all(role in result.output for role in ("viewer", "operator", "approver", "admin")), result.output
