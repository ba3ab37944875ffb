"""`switchboard connections` as the README shows it: a connection that is there but cannot be
built says why (its spec, the secret key), and one that lacks required config is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app

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


def test_test_of_a_connection_whose_spec_cannot_be_loaded_names_the_problem(env: Path) -> None:
    """An openapi connection with a spec that does not exist is accepted by `add`, and then
    `connections test` says 'no connection x' although the connection is there: the real
    cause (no OpenAPI document at 'nosuchspec') is only visible on the list/API."""
    code, out = sb(
        "connections",
        "add",
        "x",
        "--kind",
        "openapi",
        "--base-url",
        "https://api.example.com",
        "--config",
        '{"spec": "nosuchspec"}',
    )
    assert code == 0, out
    code, out = sb("connections", "test", "x")
    assert code != 0
    assert "no connection x" not in out, out
    assert "nosuchspec" in out, out


def test_openapi_connection_without_spec_is_refused_at_add(env: Path) -> None:
    """`add --kind openapi` without config.spec is stored, and can never be fixed: the name is
    taken and there is no command to edit or remove a connection."""
    code, out = sb("connections", "add", "y", "--kind", "openapi", "--base-url", "https://api.example.com")
    assert code != 0 and "spec" in out, out


def test_test_with_another_secret_key_says_the_key_is_wrong(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored credentials read with a different SWITCHBOARD_SECRET_KEY: `connections test` says
    'no connection desk' instead of naming the key."""
    code, out = sb(
        "connections",
        "add",
        "desk",
        "--kind",
        "helpdesk",
        "--base-url",
        "https://acme.zendesk.com",
        "--auth",
        "zendesk_token",
        "--credential",
        "email=bot@example.com",
        "--credential",
        "token=t",
    )
    assert code == 0, out
    monkeypatch.setenv("SWITCHBOARD_SECRET_KEY", "a-different-secret-key-987654321")
    code, out = sb("connections", "test", "desk")
    assert code != 0
    assert "no connection desk" not in out, out
    assert "SWITCHBOARD_SECRET_KEY" in out or "decrypt" in out, out
