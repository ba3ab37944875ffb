"""A record of an unknown kind is refused with every kind named, `reconciliation` (month-end)
among them."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.api.app import create_app
from app.services.auth import create_token
from tests.support.app import container


async def test_an_unknown_record_kind_lists_reconciliation_too(tmp_path: Path) -> None:
    c = container(f"sqlite:///{tmp_path / 'sb.db'}", tmp_path)
    token = create_token(c.db, "ops", "admin")[1]
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(c)), base_url="http://sb"
        ) as client:
            r = await client.post(
                "/api/v1/records", headers={"Authorization": f"Bearer {token}"}, json={"kind": "payroll"}
            )
    finally:
        await c.pool.aclose()
    assert r.status_code == 422, r.text
    assert "reconciliation" in r.json()["error"], r.json()
