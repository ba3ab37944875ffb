"""People's decisions as data: rates, edit distance and time to decision by category,
operation and model, on the dashboard and from `switchboard eval decisions`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from app.services import approvals
from app.services.auth import Principal
from app.services.decisions import argument_edit, decision_stats, edit_distance
from tests.web.conftest import Ui

ADMIN = Principal("admin-user", "admin")


def test_edit_distance_counts_changed_characters() -> None:
    assert edit_distance("Thanks, refunded.", "Thanks, refunded.") == 0
    assert edit_distance("Thanks, refundd.", "Thanks, refunded.") == 1
    assert edit_distance("abc", "xyz") == 3
    assert argument_edit({"body": "hello", "public": True}, {"body": "hallo", "public": False}) == 2


async def test_decisions_by_operation_category_and_model(ui: Ui, monkeypatch: pytest.MonkeyPatch) -> None:
    [reply] = [a for a in ui.pending() if a["operation"] == "add_comment"]
    [update] = [a for a in ui.pending() if a["operation"] == "update_ticket"]
    sent = reply["arguments"]["body"].replace("refunded", "reversed")  # 8 characters differ
    approvals.approve(ui.c.db, reply["id"], ADMIN, ui.c.pool.catalogue, {**reply["arguments"], "body": sent})
    approvals.reject(ui.c.db, update["id"], ADMIN, "leave the priority")
    stats = decision_stats(ui.c.db)
    assert stats["overall"]["proposed"] == 2 and stats["overall"]["approval_rate"] == 0.5
    comment = stats["operation"]["add_comment"]
    assert comment["approved"] == 1 and comment["edit_rate"] == 1.0
    assert comment["mean_edit_distance"] == edit_distance(reply["arguments"]["body"], sent) > 0
    assert stats["operation"]["update_ticket"]["rejection_rate"] == 1.0
    assert stats["category"]["billing"]["proposed"] == 2
    assert stats["model"]["scripted"]["proposed"] == 2
    assert stats["overall"]["median_minutes_to_decision"] is not None

    html = (await ui.get("/ui/dashboard?days=7", role="viewer")).text
    assert "What people did with proposals" in html and "add_comment" in html and "100%" in html

    monkeypatch.setenv("DATABASE_URL", str(ui.c.db.engine.url.render_as_string(hide_password=False)))
    out = CliRunner().invoke(app, ["eval", "decisions", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["operation"]["add_comment"]["edited"] == 1
    table = CliRunner().invoke(app, ["eval", "decisions", "--by", "category"])
    assert table.exit_code == 0 and "billing" in table.stdout
    bad = CliRunner().invoke(app, ["eval", "decisions", "--by", "colour"])
    assert bad.exit_code == 2 and "--by must be operation, category or model" in bad.output
