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
    could not be built until someone edited it."""
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


def test_a_connection_is_edited_and_removed_from_the_cli(env: Path) -> None:
    """A key is rotated with `connections update` (the output names what changed, never the
    value), and `connections remove --yes` takes the connection out so its name can be used again."""
    add = ["connections", "add", "desk", "--kind", "helpdesk", "--base-url", "https://acme.zendesk.com"]
    code, out = sb(*add, "--auth", "bearer", "--credential", "token=old-token-1")
    assert code == 0, out
    code, out = sb("connections", "update", "desk", "--credential", "token=new-token-2")
    assert code == 0 and "updated connection desk: credentials" in out, out
    assert "new-token-2" not in out
    code, out = sb("connections", "update", "desk", "--base-url", "ftp://acme")
    assert code == 2 and "base_url must start with http" in out, out
    code, out = sb("connections", "update", "desk", "--config", '{"timeout": 30}')
    assert code == 0 and "config" in out, out
    code, out = sb("connections", "remove", "desk", "--yes")
    assert code == 0 and "removed connection desk" in out, out
    code, out = sb("connections", "test", "desk")
    assert code != 0 and "no connection desk" in out, out
    code, out = sb(*add)
    assert code == 0, out
