"""/metrics with a scrape token: only a scraper that sends it reads the figures.

Without SWITCHBOARD_METRICS_TOKEN the endpoint answers anyone, as Prometheus endpoints usually
do (and as the web matrix checks); with it, a missing or wrong bearer token is a 401 naming what
to send, and the figures (connection names, queue depth, approvals waiting) are not in it.
Scrapes are rate-limited by address like the API, since each one reads the database.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.api.app import create_app
from tests.support.app import container

TOKEN = "scrape-me-4f1c"


async def _client(db_url: str, tmp_path: Path, **settings: object) -> httpx.AsyncClient:
    c = container(db_url, tmp_path, **settings)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(c)), base_url="http://sb")


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x"], ids=str
)
async def test_a_scrape_without_the_token_is_refused(
    db_url: str, tmp_path: Path, authorization: str | None
) -> None:
    async with await _client(db_url, tmp_path, SWITCHBOARD_METRICS_TOKEN=TOKEN) as client:
        headers = {"Authorization": authorization} if authorization else {}
        r = await client.get("/metrics", headers=headers)
        assert r.status_code == 401
        assert "SWITCHBOARD_METRICS_TOKEN" in r.json()["error"]
        assert "switchboard_runs" not in r.text


async def test_a_scrape_with_the_token_reads_the_figures(db_url: str, tmp_path: Path) -> None:
    async with await _client(db_url, tmp_path, SWITCHBOARD_METRICS_TOKEN=TOKEN) as client:
        r = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200
        assert "switchboard_approvals_pending" in r.text


async def test_scrapes_are_rate_limited_by_address(db_url: str, tmp_path: Path) -> None:
    async with await _client(
        db_url, tmp_path, SWITCHBOARD_RATE_LIMIT=0.001, SWITCHBOARD_RATE_BURST=3
    ) as client:
        codes = [(await client.get("/metrics")).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
