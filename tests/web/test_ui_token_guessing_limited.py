"""Token guessing through the web UI's pages is rate limited as on the API.

The edge looks every token up in the store and charges the rate limit to the token, or to the
client address when the token is unknown. A page read with a guessed `sb_token` cookie (200 for
a valid token, a 302 to the login page for a wrong one) is the same oracle as the API's 401, so a
client sending unknown tokens to the UI's pages is refused with 429 after its burst, as on the
API (a known token keeps its own bucket).
"""

from __future__ import annotations

from pathlib import Path

from tests.api.test_edge import _edge


async def test_guessing_tokens_through_ui_pages_is_slowed_down(db_url: str, tmp_path: Path) -> None:
    e, client = await _edge(db_url, tmp_path, SWITCHBOARD_RATE_LIMIT=0.001, SWITCHBOARD_RATE_BURST=5)
    try:
        api = [
            (await client.get("/api/v1/runs", headers={"Authorization": f"Bearer sb_{i}"})).status_code
            for i in range(8)
        ]
        assert api == [401] * 5 + [429] * 3  # the API slows a guesser down
        ui = []
        for i in range(8):
            client.cookies.clear()
            r = await client.get("/ui/queue", cookies={"sb_token": f"sb_ui_{i}"}, follow_redirects=False)
            ui.append(r.status_code)
        assert 429 in ui, f"eight wrong tokens on a UI page, none refused for the rate: {ui}"
    finally:
        await client.aclose()
        await e.c.pool.aclose()
        e.c.db.dispose()
