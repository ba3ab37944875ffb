"""The run page's "Run again" button: on a failed run, for operators, and it works."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.llm.scripted import output
from app.services.views import run_view
from app.store.tables import Run
from tests.support.app import triage_script
from tests.web.conftest import Ui, make_ui

# The model answers outside the classification schema twice (its repair turn too): the triage fails.
FAILING = [output({"off": "schema"}), output({"off": "schema"})]


@pytest.fixture
async def failed(db_url: str, tmp_path: Path) -> AsyncIterator[Ui]:
    """The UI's ticket, whose triage failed; the model behaves from then on."""
    ui, _ = await make_ui(db_url, tmp_path, [*FAILING, *triage_script(5)])
    assert run_view(ui.c.db, ui.run_id)["status"] == "failed"
    yield ui
    await ui.client.aclose()
    await ui.c.pool.aclose()


def _runs(ui: Ui) -> int:
    with ui.c.db.session() as s:
        return s.query(Run).count()


async def test_the_button_is_offered_to_operators_on_a_failed_run(failed: Ui) -> None:
    form = f'action="/ui/runs/{failed.run_id}/again"'
    for role in ("operator", "approver", "admin"):
        page = (await failed.get(f"/ui/runs/{failed.run_id}", role)).text
        assert form in page and "Run again</button>" in page, role
    page = (await failed.get(f"/ui/runs/{failed.run_id}", "viewer")).text
    assert "The run failed:" in page and form not in page and "Run again</button>" not in page

    r = await failed.post(f"/ui/runs/{failed.run_id}/again", "viewer")
    assert r.status_code == 403 and "needs the operator role" in r.text
    r = await failed.post(f"/ui/runs/{failed.run_id}/again", "operator", origin="http://evil.example")
    assert r.status_code == 403  # another site's form
    assert _runs(failed) == 1


async def test_run_again_makes_a_new_run_and_shows_it(failed: Ui) -> None:
    r = await failed.post(f"/ui/runs/{failed.run_id}/again", "operator")
    assert r.status_code == 303, r.text
    again = r.headers["location"].removeprefix("/ui/runs/")
    assert again != failed.run_id and _runs(failed) == 2
    await failed.c.orchestrator.drain("w")

    page = (await failed.get(f"/ui/runs/{again}", "operator")).text
    assert run_view(failed.c.db, again)["status"] == "waiting_approval"
    assert "Run again</button>" not in page  # only failed runs offer it

    page = (await failed.get(f"/ui/runs/{failed.run_id}", "operator")).text
    assert f'href="/ui/runs/{again}"' in page and "Run again</button>" not in page
    r = await failed.post(f"/ui/runs/{failed.run_id}/again", "operator")
    assert r.status_code == 409 and f"as run {again}" in r.text
    assert _runs(failed) == 2
