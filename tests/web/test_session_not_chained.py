"""A web session's token does not sign in again.

The cookie holds a 12-hour session token so that a copied cookie is not the person's API token,
and signing out ends it on the server. A session's token pasted into the sign-in form is refused
(a fresh session made from it would outlive the person's sign-out, and one made every 12 hours
would last as long as the API token), and no session is made from a session.
"""

from __future__ import annotations

import re

import pytest

from app.services import auth
from app.services.errors import Invalid
from tests.web.conftest import Ui


async def test_a_session_token_pasted_into_the_sign_in_form_is_refused(ui: Ui) -> None:
    r = await ui.post("/ui/login", role=None, data={"token": ui.tokens["approver"], "next": "/ui/runs"})
    found = re.match(r"sb_token=([^;]+);", r.headers.get("set-cookie", ""))
    assert r.status_code == 303 and found is not None
    session = found.group(1)

    again = await ui.post("/ui/login", role=None, data={"token": session, "next": "/ui/runs"})
    assert again.status_code == 401 and "sign in with your API token" in again.text
    assert "set-cookie" not in again.headers


def test_no_session_is_made_from_a_session(ui: Ui) -> None:
    who = auth.authenticate(ui.c.db, ui.tokens["approver"])
    assert who is not None
    session = auth.start_session(ui.c.db, who, hours=1)
    from_session = auth.authenticate(ui.c.db, session)
    assert from_session is not None and from_session.session_id is not None
    with pytest.raises(Invalid, match="not from another session"):
        auth.start_session(ui.c.db, from_session, hours=1)
