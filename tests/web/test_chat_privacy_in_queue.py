"""A chat turn is its owner's conversation: "only its owner and admins see it" (views.visible).
A write proposed in someone's chat waits in the queue; those who decide it (approvers, admins)
and its owner read the question it came from, but a viewer (the lowest role) sees only whose
request it is, in /ui/queue and /ui/queue/{id}, as /ui/runs/{id} answers them 404.
"""

from __future__ import annotations

from pathlib import Path

from app.llm.scripted import text, tool_use
from app.services import approvals, chat
from app.services.auth import Principal
from tests.support.app import triage_script
from tests.web.conftest import make_ui

SECRET = "Draft a note that Dana in payroll is being let go on Friday, ticket 5"


async def test_viewer_does_not_read_someone_elses_chat_message_in_the_queue(
    db_url: str, tmp_path: Path
) -> None:
    """Another person's chat message is not shown to a viewer: not in the queue, not on the item."""
    script = triage_script(5)
    script[-1:] = [
        tool_use("helpdesk__add_comment", {"ticket_id": 5, "body": "Internal: see HR.", "public": False}),
        text("Proposed an internal note."),
    ]
    ui, _ = await make_ui(db_url, tmp_path, script)
    try:
        owner = Principal(name="operator-user", role="operator")
        run_id, _ = chat.start_turn(ui.c.db, SECRET, None, owner)
        await ui.c.orchestrator.drain("w")
        mine = [a for a in approvals.list_actions(ui.c.db, "pending") if a["run_id"] == run_id]
        assert mine, "the chat turn proposed a write that waits in the queue"
        run_page = await ui.get(f"/ui/runs/{run_id}", role="viewer")
        assert run_page.status_code == 404  # the run itself is private, as designed
        queue = (await ui.get("/ui/queue", role="viewer")).text
        item = (await ui.get(f"/ui/queue/{mine[0]['id']}", role="viewer")).text
    finally:
        await ui.client.aclose()
        await ui.c.pool.aclose()
    assert SECRET not in queue, "the queue shows a viewer another person's chat message"
    assert SECRET not in item, "the queue item shows a viewer another person's chat message"
