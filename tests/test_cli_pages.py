"""`switchboard approvals list` and `switchboard runs list` page through the same services as the API."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from app.store.db import Database
from tests.api.test_pagination import T0, _action, _run

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    database = Database(url)
    database.upgrade()
    return database


def sb(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_approvals_list_pages_with_a_cursor(db: Database) -> None:
    from sqlalchemy import insert

    from app.store.tables import Action, Run

    runs = [_run(at=T0 + timedelta(seconds=i)) for i in range(7)]
    actions = [_action(r["id"], r["created_at"], risk="high" if i % 2 else "low") for i, r in enumerate(runs)]
    with db.session() as s:
        s.execute(insert(Run), runs)
        s.execute(insert(Action), actions)
    newest = [a["id"] for a in sorted(actions, key=lambda a: a["created_at"], reverse=True)]

    code, out = sb("approvals", "list", "--json", "--limit", "4")
    assert code == 0
    cursor = re.search(r"more: add --cursor (\S+)", out).group(1)  # type: ignore[union-attr]
    first = json.loads(out[: out.index("more:")])
    code, out = sb("approvals", "list", "--json", "--limit", "4", "--cursor", cursor)
    assert code == 0 and "more:" not in out
    assert [a["id"] for a in first + json.loads(out)] == newest

    code, out = sb("approvals", "list", "--risk", "high")
    assert code == 0 and "3 pending actions" in out
    code, out = sb("approvals", "list", "--risk", "low", "--cursor", cursor)
    assert code == 2 and "cursor was made for other filters" in out
    code, out = sb("approvals", "list", "--risk", "severe")
    assert code == 2 and "risk must be one of low, medium, high" in out

    code, out = sb("runs", "list", "--limit", "5")
    assert code == 0 and "5 runs" in out and "more: add --cursor" in out
    code, out = sb("runs", "list", "--status", "waiting_approval", "--json")
    assert code == 0 and [r["id"] for r in json.loads(out)] == [r["id"] for r in reversed(runs)]
