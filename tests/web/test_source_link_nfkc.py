"""A draft's source URL that Python's `urlsplit` refuses is shown as text, not a server error.

`urlsplit` raises ValueError for a netloc holding characters that NFKC-normalise to URL delimiters
(U+FF20 FULLWIDTH COMMERCIAL AT, U+FF0F FULLWIDTH SOLIDUS). The URL is written by the model, which
read the ticket: the run page renders (200) and shows such a source as text, not as a link.
"""

from __future__ import annotations

from pathlib import Path

from app.llm.scripted import output
from app.web import present
from tests.support.app import triage_script
from tests.web.conftest import make_ui

SPOOF = "https://help.northwind.example\uff20evil.example/articles/1"


def test_web_link_refuses_a_url_urlsplit_cannot_read() -> None:
    """`web_link` answers False (text), it does not raise."""
    assert present.web_link(SPOOF) is False


async def test_run_page_shows_a_source_url_with_fullwidth_at_as_text(db_url: str, tmp_path: Path) -> None:
    """The run page renders (200), the source named as text, not as a link."""
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
        page = await ui.get(f"/ui/runs/{ui.run_id}", role="approver")
    finally:
        await ui.client.aclose()
        await ui.c.pool.aclose()
    assert page.status_code == 200, f"the run page answered {page.status_code} for a model-written source URL"
    assert "Refund policy" in page.text
    assert f'href="{SPOOF}"' not in page.text
