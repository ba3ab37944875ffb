"""Chat shows the model's answer as it is written, like every other page: invisible and
direction-changing characters appear as ⟨U+202E⟩ markers (app.js `visible`, as the server's
pages show them). The answer is written by a model that read vendor data, so an RLO in a
customer's name flows into it: `‮moc.elpmaxe@eel.nna‬` is shown marked, never painted as
`ann.lee@example.com`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.llm.scripted import text
from app.services import chat
from app.services.auth import Principal
from tests.support.app import triage_script
from tests.web.approver_view.browser import browser_page
from tests.web.conftest import make_ui
from tests.web.support import browser_missing

_missing = browser_missing()
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(_missing is not None, reason=_missing or "")]

PLANTED = "\u202emoc.elpmaxe@eel.nna\u202c"  # paints as "ann.lee@example.com"
ANSWER = f"The refund of $499.00 goes to {PLANTED}."


async def test_chat_answer_marks_direction_changing_characters(db_url: str, tmp_path: Path) -> None:
    """The chat's answer (live or from the conversation's history) shows ⟨U+202E⟩, as the run page does."""
    script = triage_script(5)
    # the triage run parks for approval before its last answer: the chat turn gets that answer
    script[-1] = text(ANSWER)
    ui, _ = await make_ui(db_url, tmp_path, script)
    try:
        who = Principal(name="approver-user", role="approver")
        run_id, conversation = chat.start_turn(ui.c.db, "Who gets the refund on ticket 5?", None, who)
        await ui.c.orchestrator.drain("w")
        run_page = (await ui.get(f"/ui/runs/{run_id}", role="approver")).text
        assert "⟨U+202E⟩" in run_page  # the server's page marks it
        async with browser_page(ui, "approver") as page:
            await page.goto(f"/ui/chat?c={conversation}")
            answer = page.locator(".turn .answer").first
            await answer.wait_for()
            await page.wait_for_function("() => (document.querySelector('.turn .answer') || {}).textContent")
            shown = await answer.text_content()
    finally:
        await ui.client.aclose()
        await ui.c.pool.aclose()
    assert "\u202e" not in (shown or ""), (
        f"the chat paints {shown!r} with a raw RLO (looks like ann.lee@example.com)"
    )
    assert "⟨U+202E⟩" in (shown or "")
