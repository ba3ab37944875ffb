"""A new workflow version with neither a sentence nor a spec says what is missing (it used to
say "not both", although neither was sent)."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.api.app import create_app
from app.services.auth import create_token
from tests.support.app import container


async def test_an_empty_new_version_says_what_is_missing(tmp_path: Path) -> None:
    c = container(f"sqlite:///{tmp_path / 'sb.db'}", tmp_path)
    token = create_token(c.db, "ops", "admin")[1]
    h = {"Authorization": f"Bearer {token}"}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(c)), base_url="http://sb"
        ) as client:
            r = await client.post(
                "/api/v1/workflows",
                headers=h,
                json={"request": "Every morning at 8, post the count of urgent open tickets to #support"},
            )
            assert r.status_code in (200, 201), r.text
            wf = r.json()["id"]
            r = await client.post(f"/api/v1/workflows/{wf}/versions", headers=h, json={})
    finally:
        await c.pool.aclose()
    assert r.status_code == 422, r.text
    assert "not both" not in r.json()["error"], r.json()
