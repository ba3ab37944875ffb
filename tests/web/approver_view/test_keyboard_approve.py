"""`a` approves the item under the cursor, and only an item the approver selected: with none
selected (none chosen yet, or the chosen one just left the queue or changed), the key selects
and shows the first item and approves nothing."""

from __future__ import annotations

import asyncio

import pytest

from app.services import approvals, auth
from tests.web.approver_view.browser import browser_page
from tests.web.approver_view.helpers import plant
from tests.web.conftest import Ui
from tests.web.support import browser_missing

pytestmark = pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or "")


def _more_items(ui: Ui, n: int) -> None:
    update = next(a for a in ui.pending() if a["operation"] == "update_ticket")
    for i in range(n):
        args = {"ticket_id": 100 + i, "priority": "low", "add_tags": [f"t{i}"]}
        plant(ui, tool=update["tool"], arguments=args, effects=update["effects"], risk="low")


async def _ids(page) -> list[str]:  # type: ignore[no-untyped-def]
    return await page.eval_on_selector_all("#queue-list .queue-item", "els => els.map(e => e.dataset.id)")


async def test_a_after_the_chosen_item_left_approves_another_one_unseen(ui: Ui) -> None:
    _more_items(ui, 4)
    async with browser_page(ui) as page:
        await page.goto("/ui/queue")
        ids = await _ids(page)
        assert len(ids) >= 5
        await page.keyboard.press("j")
        await page.keyboard.press("j")
        await page.keyboard.press("j")
        chosen = await page.eval_on_selector(".queue-item.cursor", "e => e.dataset.id")
        assert chosen == ids[2]
        # A colleague decides the chosen item; the queue's live refresh (every 3 s) drops it.
        colleague = auth.authenticate(ui.c.db, ui.tokens["admin"])
        assert colleague is not None
        approvals.reject(ui.c.db, chosen, colleague, "duplicate")
        await page.wait_for_selector(f"#a-{chosen}", state="detached", timeout=10_000)
        # The approver, still on what they chose, presses `a`.
        await page.keyboard.press("a")
        await asyncio.sleep(1.5)
    approved = [i for i in ids if approvals.get_action(ui.c.db, i)["status"] == "approved"]
    assert approved == [], (
        f"`a` approved {approved} (the first item: {ids[0]}), which the approver never had under the cursor"
    )


async def test_a_with_no_cursor_approves_the_first_item_while_another_is_in_view(ui: Ui) -> None:
    _more_items(ui, 8)
    async with browser_page(ui) as page:
        await page.set_viewport_size({"width": 1280, "height": 500})
        await page.goto("/ui/queue")
        ids = await _ids(page)
        # The approver scrolls down to read the last card; the first one is off screen.
        await page.locator(f"#a-{ids[-1]}").scroll_into_view_if_needed()
        first_box = await page.locator(f"#a-{ids[0]}").bounding_box()
        scroll = await page.evaluate("window.scrollY")
        assert (first_box is not None and first_box["y"] + first_box["height"] < 0) or scroll > 0
        await page.keyboard.press("a")
        await asyncio.sleep(1.5)
    approved = [i for i in ids if approvals.get_action(ui.c.db, i)["status"] == "approved"]
    assert approved == [], f"`a` approved {approved}, the first card, scrolled out of view, in one keystroke"
