"""A draft's source link is shown "with the host it opens" (README, The web UI), so a title
cannot pass for another site: the host shown is the one a browser opens, or the URL is text.

Browsers parse http(s) URLs by the WHATWG URL standard, where a backslash is a path separator:
`https://evil.example\\@help.northwind.example/x` opens evil.example, while Python's `urlsplit`
takes what follows the `@` as the host. Such a URL is shown as text, never as a link labelled
with the host it does not open.
"""

from __future__ import annotations

import re
from pathlib import Path

from app.llm.scripted import output
from app.web import present
from tests.support.app import triage_script
from tests.web.conftest import make_ui

# What Chromium/Node open for this URL: new URL(SPOOF).hostname == "evil.example"
SPOOF = "https://evil.example\\@help.northwind.example/articles/1"
OPENS = "evil.example"


def test_host_shown_for_a_link_is_the_host_a_browser_opens() -> None:
    """`host` (the label) agrees with the browser, or `web_link` refuses to make it a link."""
    assert not present.web_link(SPOOF) or present.host(SPOOF) == OPENS, (
        f"{SPOOF!r} becomes a link labelled {present.host(SPOOF)!r}, but a browser opens {OPENS!r}"
    )


async def test_run_page_never_labels_a_source_link_with_a_host_it_does_not_open(
    db_url: str, tmp_path: Path
) -> None:
    """On the run page, a source link's "(host)" is the host the browser goes to; a URL whose host
    browsers and the server read differently is shown as text, not as a link."""
    script = triage_script(5)
    script[1] = output(
        {
            "body": "Thanks, we have refunded the duplicate charge.",
            "sources": [{"id": 1, "title": "Refund policy", "url": SPOOF}],
            "grounded": True,
        }
    )
    ui, _ = await make_ui(db_url, tmp_path, script)
    try:
        page = (await ui.get(f"/ui/runs/{ui.run_id}", role="approver")).text
    finally:
        await ui.client.aclose()
        await ui.c.pool.aclose()
    links = re.findall(r'<a href="([^"]*)"[^>]*>Refund policy</a> <span class="muted">\(([^)]*)\)', page)
    for _href, shown in links:
        assert shown == OPENS, f"the link opens {OPENS} but the page says it opens {shown}"
