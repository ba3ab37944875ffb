"""A web sign-in is a session of its own: the browser never holds the API token.

Signing in with an API token sets a cookie holding a short-lived token made for the session
(the person's name and role). Signing out ends that session on the server: the cookie's value,
replayed, no longer signs anyone in, while the API token goes on working. Revoking the API token
ends its sessions at once; what a person approved in a session still counts after they sign
out, and stops counting when their API token is revoked (the approval records the API token).
"""

from __future__ import annotations

import re

from sqlalchemy import select

from app.services import auth
from app.store.tables import AuditEntry
from tests.web.conftest import Ui


async def _sign_in(ui: Ui, role: str) -> str:
    r = await ui.post("/ui/login", role=None, data={"token": ui.tokens[role], "next": "/ui/runs"})
    assert r.status_code == 303, r.text
    found = re.match(r"sb_token=([^;]+);", r.headers["set-cookie"])
    assert found is not None, r.headers["set-cookie"]
    return found.group(1)


def _with(session: str) -> dict[str, str]:
    return {"Cookie": f"sb_token={session}"}


async def test_the_cookie_holds_a_session_token_not_the_api_token(ui: Ui) -> None:
    session = await _sign_in(ui, "viewer")
    assert session != ui.tokens["viewer"] and session.startswith("sbs_")
    r = await ui.get("/ui/runs", role=None, headers=_with(session))
    assert r.status_code == 200, r.status_code
    who = auth.authenticate(ui.c.db, session)
    assert who is not None and who.role == "viewer"
    assert who.token_id == auth.authenticate(ui.c.db, ui.tokens["viewer"]).token_id  # type: ignore[union-attr]


async def test_signing_out_ends_the_session_on_the_server(ui: Ui) -> None:
    session = await _sign_in(ui, "approver")
    r = await ui.post("/ui/logout", role=None, headers=_with(session))
    assert r.status_code == 303
    replayed = await ui.get("/ui/runs", role=None, headers=_with(session))
    assert replayed.status_code == 302 and replayed.headers["location"].startswith("/ui/login"), (
        replayed.status_code
    )
    api = await ui.client.get("/api/v1/runs", headers={"Authorization": f"Bearer {session}"})
    assert api.status_code == 401, api.status_code
    assert auth.authenticate(ui.c.db, ui.tokens["approver"]) is not None  # the API token goes on
    with ui.c.db.read() as s:
        events = [e.event for e in s.scalars(select(AuditEntry).where(AuditEntry.event.like("web.%")))]
    assert events == ["web.signed_in", "web.signed_out"], events


async def test_revoking_the_api_token_ends_its_sessions(ui: Ui) -> None:
    session = await _sign_in(ui, "operator")
    token_id = auth.authenticate(ui.c.db, ui.tokens["operator"]).token_id  # type: ignore[union-attr]
    assert token_id is not None
    auth.revoke_token(ui.c.db, token_id, actor="admin")
    r = await ui.get("/ui/runs", role=None, headers=_with(session))
    assert r.status_code == 302, r.status_code
    assert auth.authenticate(ui.c.db, session) is None


async def test_sessions_are_not_listed_as_api_tokens(ui: Ui) -> None:
    before = len(auth.list_tokens(ui.c.db))
    await _sign_in(ui, "viewer")
    await _sign_in(ui, "viewer")
    assert len(auth.list_tokens(ui.c.db)) == before


async def test_signing_out_with_an_api_token_cookie_does_not_revoke_it(ui: Ui) -> None:
    r = await ui.post("/ui/logout", role="viewer")  # a browser given the API token itself
    assert r.status_code == 303
    assert auth.authenticate(ui.c.db, ui.tokens["viewer"]) is not None
