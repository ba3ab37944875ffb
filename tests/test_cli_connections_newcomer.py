"""`switchboard connections` as the README shows it: a connection that is there but cannot be
built says why (its spec, the secret key), and one that lacks required config is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli import env, sb

__all__ = ["env"]  # the fixture, used by name below


def test_test_of_a_connection_whose_spec_cannot_be_loaded_names_the_problem(env: Path) -> None:
    """An openapi connection with a spec that does not exist is accepted by `add`; `connections
    test` then names the cause (no OpenAPI document at 'nosuchspec'), not 'no connection x'."""
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
    """`add --kind openapi` without config.spec is refused, naming it: stored, the connection
    could not be built, and no command edits or removes one."""
    code, out = sb("connections", "add", "y", "--kind", "openapi", "--base-url", "https://api.example.com")
    assert code != 0 and "spec" in out, out


def test_test_with_another_secret_key_says_the_key_is_wrong(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored credentials read with a different SWITCHBOARD_SECRET_KEY: `connections test` names
    the key, not 'no connection desk'."""
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
