"""What people read in the UI says what happened, once, without model plumbing."""

from __future__ import annotations

from sqlalchemy import select

from app.llm.base import Message, ToolCall
from app.llm.local.planner import History, _summary
from app.store.tables import Connection
from app.web.present import plain
from tests.web.conftest import Ui

LONG = "HTTP 503 from https://desk.example/api/v2/tickets/1.json: " + "upstream-connect-error-" * 20


async def test_a_connection_error_is_said_once_and_wraps(ui: Ui) -> None:
    with ui.c.db.session() as s:
        row = s.scalar(select(Connection).where(Connection.name == "helpdesk"))
        assert row is not None
        row.status, row.last_error = "error", LONG
    page = (await ui.get("/ui/connections")).text
    assert page.count(LONG) == 1  # not also as an alert
    assert "Last error:" in page
    css = (await ui.get("/static/app.css")).text
    assert ".conn .alerts li, .conn .err, .conn .notice { overflow-wrap: anywhere;" in css


async def test_a_failed_test_shows_its_error_once(ui: Ui) -> None:
    with ui.c.db.session() as s:
        row = s.scalar(select(Connection).where(Connection.name == "helpdesk"))
        assert row is not None
        row.base_url = "http://127.0.0.1:9"  # nothing listens there
    ui.c.pool.invalidate()
    ui.c.pool._connectors.clear()
    r = await ui.post("/ui/connections/helpdesk/test", headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert r.text.count("Tested just now:") == 1
    assert "Last error:" not in r.text and "⚠" not in r.text


def test_fence_tags_never_reach_people() -> None:
    fenced = '<untrusted_data source="helpdesk__get_ticket">\nHTTP 503: down\n</untrusted_data>'
    assert plain(fenced) == "HTTP 503: down"
    call = ToolCall(id="local_1", name="helpdesk__add_comment", arguments={"ticket_id": 3, "body": "hi"})
    failed = Message(role="tool", tool_call_id="local_1", content=fenced, is_error=True)
    text = _summary(History([call], {"local_1": failed}))
    assert "untrusted_data" not in text and "HTTP 503: down" in text


async def test_the_reject_box_says_what_the_local_model_does(ui: Ui) -> None:
    page = (await ui.get("/ui/queue")).text
    assert ui.c.settings.model == "local"
    assert "The model reads this and may propose something else" not in page
    assert "The offline model redrafts a reply for tone or length" in page
    assert "other reasons drop this write" in page
