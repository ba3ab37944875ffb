"""The API tests' shared world: every simulated system, the app in front of them, and people."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.api.app import create_app
from tests.support.systems import Systems, systems

World = tuple[Systems, httpx.AsyncClient, dict[str, dict[str, str]]]


@pytest.fixture
async def world(db_url: str, tmp_path: Path) -> AsyncIterator[World]:
    """The systems, an API client and the headers of an operator, an approver and an admin
    (olivia, adam, root). A test file that needs other people defines its own `world`."""
    with systems(db_url, tmp_path) as sy:
        people = sy.tokens(("olivia", "operator"), ("adam", "approver"), ("root", "admin"))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(sy.c)), base_url="http://sb"
        ) as api:
            yield sy, api, people
        await sy.c.pool.aclose()
