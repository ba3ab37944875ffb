"""The queue's "show more" and the runs page follow keyset cursors through the list services."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from app.services import dashboard
from tests.api.test_pagination import T0, _action, _run, seed
from tests.web.conftest import Ui


def _card_ids(text: str) -> list[str]:
    return re.findall(r'id="a-([0-9a-f]{32})"', text)


async def test_show_more_pages_the_queue_by_cursor(ui: Ui) -> None:
    runs = [_run(at=T0 + timedelta(seconds=i // 3)) for i in range(230)]
    seed(ui.c, runs, [_action(r["id"], r["created_at"]) for r in runs])
    everything = [a["id"] for a in dashboard.queue(ui.c.db, "pending", limit=1000)]
    assert len(everything) == 232  # the fixture's two and these

    page = (await ui.get("/ui/queue", role="viewer")).text
    seen = _card_ids(page)
    assert len(seen) == 100 and "Show 100 more" in page and "(132 not shown)" in page
    for _ in range(3):
        more = re.search(r'hx-get="(/ui/queue/more\?[^"]+)"', page)
        if more is None:
            break
        page = (await ui.get(html.unescape(more.group(1)), role="viewer")).text
        seen += _card_ids(page)
    assert seen == everything
    assert "/ui/queue/more" not in page  # the last page offers no more

    bad = await ui.get("/ui/queue/more?status=failed&cursor=nonsense", role="viewer")
    assert bad.status_code == 400 and "cursor" in bad.text


async def test_runs_page_links_to_older_runs(ui: Ui) -> None:
    seed(ui.c, [_run(at=T0 + timedelta(seconds=i), status="succeeded") for i in range(150)], [])
    first = (await ui.get("/ui/runs?status=succeeded", role="viewer")).text
    older = re.search(r'rel="next" href="([^"]+)"', first)
    assert older and first.count('<a class="mono" href="/ui/runs/') == 100
    second = (await ui.get(html.unescape(older.group(1)), role="viewer")).text
    assert second.count('<a class="mono" href="/ui/runs/') == 50 and 'rel="next"' not in second
    assert ">Newest</a>" in second
    first_ids = set(re.findall(r'href="/ui/runs/([0-9a-f]{32})"', first))
    assert not first_ids & set(re.findall(r'href="/ui/runs/([0-9a-f]{32})"', second))
