"""The API's hot reads run on a few threads of their own (app/api/reads.py), never on the event
loop and never more at once than SWITCHBOARD_API_READ_THREADS; the token's once-a-minute
`last_used_at` write stays off those threads."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from app.api import reads as reads_module
from app.api.app import create_app
from app.api.reads import Reads
from app.services import approvals, auth, views
from app.services.auth import create_token
from app.store.tables import ApiToken, utcnow
from tests.support.app import container


class Watch:
    """Wraps a function: how many calls ran at once at most, and on which threads."""

    def __init__(self, fn: Callable[..., Any], hold: float = 0.05):
        self.fn = fn
        self.hold = hold
        self.now = self.most = 0
        self.threads: set[int] = set()
        self.lock = threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.threads.add(threading.get_ident())
        try:
            time.sleep(self.hold)  # long enough for the others to pile up, if they could
            return self.fn(*args, **kwargs)
        finally:
            with self.lock:
                self.now -= 1


async def test_reads_never_run_more_at_once_than_their_threads() -> None:
    read = Reads(2)
    watch = Watch(lambda x: x * 2)
    loop_thread = threading.get_ident()
    assert await asyncio.gather(*(read(watch, i) for i in range(8))) == [i * 2 for i in range(8)]
    assert watch.most == 2
    assert loop_thread not in watch.threads


def test_reads_need_a_thread() -> None:
    with pytest.raises(ValueError, match="at least one thread"):
        Reads(0)


@pytest.mark.parametrize("path", ["/api/v1/approvals", "/api/v1/runs"])
async def test_lists_under_load_use_the_read_threads_only(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    c = container(db_url, tmp_path, SWITCHBOARD_API_READ_THREADS=1)
    token = create_token(c.db, "viewer-user", "viewer")[1]
    lists = Watch(approvals.page_actions if "approvals" in path else views.page_runs)
    who = Watch(auth.identify, hold=0.0)
    target = approvals if "approvals" in path else views
    monkeypatch.setattr(target, "page_actions" if "approvals" in path else "page_runs", lists)
    monkeypatch.setattr(auth, "identify", who)
    app = create_app(c)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sb") as http:
        answers = await asyncio.gather(*(http.get(path, headers=headers) for _ in range(6)))
    assert [r.status_code for r in answers] == [200] * 6
    assert lists.most == 1, "six clients at once, one read thread: one list at a time"
    assert threading.get_ident() not in lists.threads | who.threads
    assert who.now == 0 and len(who.threads) >= 1
    await c.pool.aclose()


async def test_a_stale_token_is_touched_once_and_a_fresh_one_not(db_url: str, tmp_path: Path) -> None:
    c = container(db_url, tmp_path)
    token_id, token = create_token(c.db, "viewer-user", "viewer")
    read = Reads(1)

    def used() -> Any:
        with c.db.read() as s:
            return s.scalar(select(ApiToken.last_used_at).where(ApiToken.id == token_id))

    old = utcnow() - timedelta(minutes=5)
    with c.db.session() as s:
        s.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=old))
    who = await reads_module.signed_in(c, read, token)
    assert who is not None and who.role == "viewer"
    first = used()
    assert first is not None and first.replace(tzinfo=None) > old.replace(tzinfo=None)
    assert (await reads_module.signed_in(c, read, token)) == who
    assert used() == first  # fresh: no second write within the minute
    assert await reads_module.signed_in(c, read, "sb_not-a-token") is None
    await c.pool.aclose()
