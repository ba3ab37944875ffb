"""`switchboard connections secret NAME`: a webhook secret set from a terminal, never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from app.config import Settings
from app.main import Container
from app.services.connections import add_connection
from app.services.webhook_secrets import has_webhook_secret

runner = CliRunner()


def test_secret_from_a_prompt_a_file_and_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SWITCHBOARD_SECRET_KEY", "cli-test-secret-key-0123456789")
    c = Container(Settings())
    c.db.upgrade()
    add_connection(
        c.db,
        c.box,
        name="shop",
        kind="shop",
        base_url="http://shop.invalid",
        auth_type="api_key",
        credentials={"key": "shpat_x"},
        config={"header": "X-Shopify-Access-Token"},
        owner="ops",
    )

    monkeypatch.setattr("getpass.getpass", lambda prompt: "shpss_from_prompt")
    result = runner.invoke(app, ["connections", "secret", "shop"])
    assert result.exit_code == 0, result.output
    assert "webhook secret for shop set" in result.output and "shpss_from_prompt" not in result.output
    assert has_webhook_secret(c.db, c.box, "shop")

    keys = tmp_path / "jwks.json"
    keys.write_text('{"keys": []}')
    result = runner.invoke(app, ["connections", "secret", "shop", "--from-file", str(keys)])
    assert result.exit_code == 0 and "replaced" in result.output
    with c.db.session() as s:
        from app.store.tables import Connection

        row = s.query(Connection).filter_by(name="shop").one()
        assert c.box.open(row.credentials)["webhook_secret"] == '{"keys": []}'

    result = runner.invoke(app, ["connections", "secret", "shop", "--from-file", "-"], input="   \n")
    assert result.exit_code == 2 and "empty" in result.output
    result = runner.invoke(app, ["connections", "secret", "nope", "--from-file", str(keys)])
    assert result.exit_code == 2 and "no connection nope" in result.output
