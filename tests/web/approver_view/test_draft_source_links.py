"""The draft's "Sources" are written by the model, which read the customer's ticket: only an
http(s) URL becomes a link, shown with the host it opens; anything else is shown as text."""

from __future__ import annotations

import re
from pathlib import Path

from app.llm.scripted import output
from tests.support.app import triage_script
from tests.web.conftest import make_ui

EVIL = "javascript:fetch('/api/v1/tokens',{method:'POST',headers:{'Content-Type':'application/json'},body:'{\"name\":\"x\",\"role\":\"admin\"}'})"


async def test_a_model_written_source_url_is_a_link_only_to_a_web_page(db_url: str, tmp_path: Path) -> None:
    script = triage_script(5)
    script[1] = output(
        {
            "body": "Thanks, we have refunded the duplicate charge.",
            "sources": [
                {"id": 1, "title": "Refund policy", "url": EVIL},
                {"id": 2, "title": "Shipping", "url": "https://help.northwind.example/articles/2"},
            ],
            "grounded": True,
        }
    )
    ui, _ = await make_ui(db_url, tmp_path, script)
    try:
        page = (await ui.get(f"/ui/runs/{ui.run_id}", role="approver")).text
    finally:
        await ui.client.aclose()
        await ui.c.pool.aclose()
    assert re.findall(r'<a href="([^"]*)"[^>]*>Refund policy</a>', page) == []
    assert "Refund policy" in page and 'href="javascript:' not in page
    shipping = re.findall(r'<a href="([^"]*)"[^>]*>Shipping</a> <span class="muted">\(([^)]*)\)', page)
    assert shipping == [("https://help.northwind.example/articles/2", "help.northwind.example")]
