"""The approvals and runs lists: keyset pages with opaque cursors, filtered in SQL (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from app.api.app import create_app
from app.main import Container
from app.services import approvals, paging, views
from app.services.auth import Principal, create_token
from app.store.tables import Action, Run
from tests.support.app import container

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _run(kind: str = "triage", at: datetime = T0, **kw: Any) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "kind": kind,
        "status": kw.pop("status", "waiting_approval"),
        "input": {},
        "created_at": at,
        "updated_at": at,
        **kw,
    }


def _action(run_id: str, at: datetime, **kw: Any) -> dict[str, Any]:
    args = kw.pop("arguments", {"ticket_id": 1, "body": "Hello"})
    conn = kw.pop("connection", "helpdesk")
    op = kw.pop("operation", "add_comment")
    return {
        "id": uuid.uuid4().hex,
        "run_id": run_id,
        "tool_call_id": uuid.uuid4().hex,
        "tool": f"{conn}__{op}",
        "connection": conn,
        "operation": op,
        "arguments": args,
        "proposed_arguments": args,
        "status": kw.pop("status", "pending"),
        "risk": kw.pop("risk", "medium"),
        "reasons": [],
        "provenance": {"body": {"source": "model"}},
        "created_at": at,
        **kw,
    }


def seed(c: Container, runs: list[dict[str, Any]], actions: list[dict[str, Any]]) -> None:
    with c.db.session() as s:
        if runs:
            s.execute(insert(Run), runs)
        if actions:
            s.execute(insert(Action), actions)


class Client:
    def __init__(self, c: Container, http: httpx.AsyncClient):
        self.c = c
        self.http = http
        self.token = {r: create_token(c.db, f"{r}-user", r)[1] for r in ("viewer", "admin")}

    async def get(self, path: str, role: str = "admin") -> httpx.Response:
        return await self.http.get(path, headers={"Authorization": f"Bearer {self.token[role]}"})

    async def every(self, path: str, role: str = "admin") -> list[list[dict[str, Any]]]:
        """Each page, following the Link headers to the end."""
        pages = []
        next_url: str | None = path
        while next_url:
            r = await self.get(next_url, role)
            assert r.status_code == 200, r.text
            pages.append(r.json())
            next_url = _next(r)
            assert len(pages) < 100
        return pages


def _next(r: httpx.Response) -> str | None:
    m = re.fullmatch(r'<([^>]+)>; rel="next"', r.headers.get("link", ""))
    return m.group(1) if m else None


@pytest.fixture
async def api(db_url: str, tmp_path: Path) -> AsyncIterator[Client]:
    c = container(db_url, tmp_path)
    app = create_app(c)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sb") as http:
        yield Client(c, http)
    await c.pool.aclose()


def _queue(n: int, *, ties: int = 3) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`n` pending actions on n runs; every `ties` of them share a created_at (the id breaks the tie)."""
    runs, actions = [], []
    for i in range(n):
        at = T0 + timedelta(seconds=i // ties)
        run = _run(at=at)
        runs.append(run)
        actions.append(_action(run["id"], at))
    return runs, actions


def _newest_first(actions: list[dict[str, Any]]) -> list[str]:
    return [a["id"] for a in sorted(actions, key=lambda a: (a["created_at"], a["id"]), reverse=True)]


async def test_pages_cover_the_queue_once_in_order(api: Client) -> None:
    runs, actions = _queue(23)
    seed(api.c, runs, actions)
    pages = await api.every("/api/v1/approvals?limit=10")
    assert [len(p) for p in pages] == [10, 10, 3]
    assert [a["id"] for p in pages for a in p] == _newest_first(actions)
    # the contract's fields, and a summary: the whole action is at GET /approvals/{id}
    first = pages[0][0]
    assert {"id", "run_id", "connection", "operation", "arguments", "risk", "reasons", "status"} <= set(first)
    assert "provenance" not in first
    whole = (await api.get(f"/api/v1/approvals/{first['id']}")).json()
    assert whole["provenance"] == {"body": {"source": "model"}}
    assert {k: whole[k] for k in first} == first


async def test_the_default_page_is_bounded_and_a_huge_limit_is_capped(api: Client) -> None:
    runs, actions = _queue(paging.MAX_LIMIT + 5, ties=7)
    seed(api.c, runs, actions)
    r = await api.get("/api/v1/approvals")
    assert len(r.json()) == paging.DEFAULT_LIMIT and _next(r)
    r = await api.get("/api/v1/approvals?limit=5000")
    assert len(r.json()) == paging.MAX_LIMIT
    rest = await api.get(_next(r) or "")
    assert len(rest.json()) == 5 and _next(rest) is None
    assert (await api.get("/api/v1/approvals?limit=0")).status_code == 422


async def test_inserts_while_paging_neither_repeat_nor_skip(api: Client) -> None:
    runs, actions = _queue(12)
    seed(api.c, runs, actions)
    first = await api.get("/api/v1/approvals?limit=5")
    newer_runs, newer = _queue(4)
    for a in newer:
        a["created_at"] += timedelta(days=1)
    seed(api.c, newer_runs, newer)
    rest = await api.every(_next(first) or "")
    seen = [a["id"] for a in first.json()] + [a["id"] for p in rest for a in p]
    assert seen == _newest_first(actions)
    fresh = (await api.get("/api/v1/approvals?limit=4")).json()
    assert [a["id"] for a in fresh] == _newest_first(newer)


async def test_filters_are_applied_before_paging(api: Client) -> None:
    chat_run = _run("chat", created_by="viewer-user")
    triage_run = _run("triage")
    refunds = [
        _action(
            chat_run["id"], T0 + timedelta(minutes=i), connection="payments", operation="refund", risk="high"
        )
        for i in range(7)
    ]
    others = [_action(triage_run["id"], T0 + timedelta(minutes=i, seconds=30), risk="low") for i in range(7)]
    done = [_action(triage_run["id"], T0 + timedelta(hours=1), status="succeeded", tool_call_id="x")]
    seed(api.c, [chat_run, triage_run], refunds + others + done)

    async def ids(query: str) -> list[str]:
        return [a["id"] for p in await api.every(f"/api/v1/approvals?limit=3&{query}") for a in p]

    assert await ids("risk=high") == _newest_first(refunds)
    assert await ids("connection=payments") == _newest_first(refunds)
    assert await ids("tool=helpdesk__add_comment") == _newest_first(others)
    assert await ids("operation=refund&risk=low") == []
    assert await ids("kind=chat") == _newest_first(refunds)
    assert await ids(f"run_id={triage_run['id']}") == _newest_first(others)
    assert await ids("status=succeeded") == [done[0]["id"]]
    assert await ids("status=all") == _newest_first(refunds + others + done)
    since = (T0 + timedelta(minutes=4)).isoformat().replace("+00:00", "Z")
    assert await ids(f"created_after={since}&risk=high") == _newest_first(refunds[5:])
    assert await ids(f"created_before={since}&risk=low") == _newest_first(others[:4])


async def test_bad_input_names_the_problem(api: Client) -> None:
    runs, actions = _queue(6)
    seed(api.c, runs, actions)
    r = await api.get("/api/v1/approvals?limit=2&risk=medium")
    cursor = re.search(r"cursor=([^&>]+)", r.headers["link"]).group(1)  # type: ignore[union-attr]

    other = await api.get(f"/api/v1/approvals?limit=2&risk=high&cursor={cursor}")
    assert other.status_code == 400 and other.json()["field"] == "cursor"
    assert "other filters" in other.json()["error"]
    for junk in ("nonsense", "eyJ4IjoxfQ", cursor[:-3]):
        bad = await api.get(f"/api/v1/approvals?cursor={junk}")
        assert bad.status_code == 400 and bad.json()["field"] == "cursor", junk
    for query, name in (("risk=extreme", "risk"), ("status=maybe", "status"), ("kind=poem", "kind")):
        bad = await api.get(f"/api/v1/approvals?{query}")
        assert bad.status_code == 422 and bad.json()["field"] == name
    naive = await api.get("/api/v1/approvals?created_after=2026-11-02T09:00:00")
    assert naive.status_code == 422 and naive.json()["field"] == "created_after"
    bad = await api.get("/api/v1/runs?cursor=nonsense")
    assert bad.status_code == 400 and bad.json()["field"] == "cursor"


async def test_runs_page_by_cursor_and_hide_others_chats_in_sql(api: Client) -> None:
    mine = [
        _run("chat", T0 + timedelta(seconds=i), created_by="viewer-user", status="succeeded")
        for i in range(3)
    ]
    theirs = [
        _run("chat", T0 + timedelta(seconds=i), created_by="someone", status="succeeded") for i in range(4)
    ]
    tickets = [_run("triage", T0 + timedelta(seconds=i // 2), status="queued") for i in range(5)]
    seed(api.c, mine + theirs + tickets, [])

    def newest(rows: list[dict[str, Any]]) -> list[str]:
        return [r["id"] for r in sorted(rows, key=lambda r: (r["created_at"], r["id"]), reverse=True)]

    async def ids(query: str, role: str = "admin") -> list[str]:
        pages = await api.every(f"/api/v1/runs?limit=2&{query}", role)
        assert all(len(p) == 2 for p in pages[:-1])  # hidden runs never leave a page short
        return [r["id"] for p in pages for r in p]

    assert await ids("", "viewer") == newest(mine + tickets)
    assert await ids("") == newest(mine + theirs + tickets)
    assert await ids("status=queued") == newest(tickets)
    assert await ids("kind=chat", "viewer") == newest(mine)
    bad = await api.get("/api/v1/runs?status=sleeping")
    assert bad.status_code == 422 and bad.json()["field"] == "status"


def test_service_pages_match_the_api(api: Client) -> None:
    """The CLI and the UI page through the same services."""
    runs, actions = _queue(7)
    seed(api.c, runs, actions)
    first = approvals.page_actions(api.c.db, limit=4)
    second = approvals.page_actions(api.c.db, cursor=first.next_cursor, limit=4)
    assert second.next_cursor is None
    assert [a["id"] for a in first.items + second.items] == _newest_first(actions)
    viewer = Principal("viewer-user", "viewer")
    assert [r["id"] for r in views.page_runs(api.c.db, limit=50, viewer=viewer).items] == [
        r["id"] for r in sorted(runs, key=lambda r: (r["created_at"], r["id"]), reverse=True)
    ]
