"""A person's correction becomes a training example: the next similar ticket gets it right."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.api.app import create_app
from app.services.auth import create_token
from app.services.views import run_view
from tests.support.app import container

FIRST = {
    "subject": "Parcel arrived crushed",
    "body": "The box was crushed and the vase inside is broken.",
    "requester_email": "ann.lee@example.com",
    "external_id": 3,
}
SECOND = {
    "subject": "Parcel arrived crushed",
    "body": "The box was crushed and the lamp inside is broken.",
    "requester_email": "sam@example.com",
    "external_id": 4,
}


async def test_a_correction_changes_the_next_classification(db_url: str, tmp_path: Path) -> None:
    c = container(db_url, tmp_path)  # the local model
    op = {"Authorization": f"Bearer {create_token(c.db, 'intake', 'operator')[1]}"}
    ap = {"Authorization": f"Bearer {create_token(c.db, 'lead', 'approver')[1]}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(c)), base_url="http://sb"
    ) as api:
        first = (await api.post("/api/v1/tickets", json=FIRST, headers=op)).json()["run_id"]
        await c.orchestrator.drain("w")
        before = run_view(c.db, first)["classification"]["category"]
        corrected = "refund" if before != "refund" else "shipping"

        r = await api.post(f"/api/v1/runs/{first}/classification", json={"category": "astrology"}, headers=ap)
        assert r.status_code == 422 and "category" in r.json()["error"]
        assert (
            await api.post(f"/api/v1/runs/{first}/classification", json={"category": corrected}, headers=op)
        ).status_code == 403
        r = await api.post(f"/api/v1/runs/{first}/classification", json={"category": corrected}, headers=ap)
        assert (
            r.status_code == 200
            and r.json()["category"] == corrected
            and r.json()["corrected_from"] == before
        )

        second = (await api.post("/api/v1/tickets", json=SECOND, headers=op)).json()["run_id"]
        await c.orchestrator.drain("w")
    after = run_view(c.db, second)["classification"]
    assert after["category"] == corrected, (before, after)
    await c.pool.aclose()
