"""The web UI in-process: sign-in, CSRF, the queue's decisions, tokens, connections, dashboard."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from app.services import approvals, dashboard
from app.store.tables import Action, AuditEntry, utcnow
from tests.web.conftest import ORIGIN, Ui


def _reply(ui: Ui) -> dict:
    return next(a for a in ui.pending() if a["operation"] == "add_comment")


def _update(ui: Ui) -> dict:
    return next(a for a in ui.pending() if a["operation"] == "update_ticket")


# -- sign-in and sessions ------------------------------------------------------------------------------
async def test_sign_in_sets_a_strict_httponly_cookie_and_sign_out_clears_it(ui: Ui) -> None:
    r = await ui.post("/ui/login", role=None, data={"token": ui.tokens["viewer"], "next": "/ui/runs"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/runs"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("sb_token=sbs_")  # a session's own token (tests/web/test_web_sessions.py)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    r = await ui.post("/ui/logout", role="viewer")
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    assert 'sb_token=""' in r.headers["set-cookie"] and "Max-Age=0" in r.headers["set-cookie"]


async def test_sign_in_refuses_bad_tokens_and_foreign_redirects(ui: Ui) -> None:
    r = await ui.post("/ui/login", role=None, data={"token": "sb_wrong"})
    assert r.status_code == 401 and "unknown, revoked or expired" in r.text
    assert "set-cookie" not in r.headers
    r = await ui.post(
        "/ui/login", role=None, data={"token": ui.tokens["admin"], "next": "https://evil.example/"}
    )
    assert r.headers["location"] == "/ui/queue"  # never an open redirect
    r = await ui.post(
        "/ui/login", role=None, origin="https://evil.example", data={"token": ui.tokens["admin"]}
    )
    assert r.status_code == 403 and "set-cookie" not in r.headers  # no login CSRF


async def test_oversized_forms_are_refused(ui: Ui) -> None:
    r = await ui.post("/ui/login", role=None, data={"token": "x" * 300_000})
    assert r.status_code == 413 and "too large" in r.text


async def test_signed_out_pages_redirect_and_htmx_gets_hx_redirect(ui: Ui) -> None:
    r = await ui.get("/ui/queue?status=all", role=None)
    assert r.status_code == 302 and r.headers["location"] == "/ui/login?next=%2Fui%2Fqueue%3Fstatus%3Dall"
    r = await ui.get("/ui/queue/panel", role=None, headers={"HX-Request": "true"})
    assert r.status_code == 401 and r.headers["hx-redirect"].startswith("/ui/login")
    r = await ui.get("/ui/queue", role=None, headers={"Cookie": "sb_token=sb_revoked-or-made-up"})
    assert r.status_code == 302


async def test_pages_carry_security_headers(ui: Ui) -> None:
    r = await ui.get("/ui/queue")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"


# -- CSRF ------------------------------------------------------------------------------------------
async def test_cookie_authenticated_posts_must_come_from_this_site(ui: Ui) -> None:
    action = _update(ui)
    url = f"/ui/queue/{action['id']}/reject"
    for origin in (None, "https://evil.example", "null"):
        r = await ui.post(url, role="approver", origin=origin, data={"reason": "csrf"})
        assert r.status_code == 403 and "cross-site" in r.text, origin
    # the API accepts the cookie too, so it is guarded the same way
    r = await ui.client.post(
        f"/api/v1/approvals/{action['id']}/approve",
        headers={**ui.cookie("approver"), "Origin": "https://x.example"},
    )
    assert r.status_code == 403
    assert approvals.get_action(ui.c.db, action["id"])["status"] == "pending"
    # a Referer from this site is enough when a browser sends no Origin
    r = await ui.post(
        url, role="approver", origin=None, headers={"Referer": f"{ORIGIN}/ui/queue"}, data={"reason": "ok"}
    )
    assert r.status_code == 303
    # Bearer tokens are not ambient credentials: no Origin needed
    reply = _reply(ui)
    r = await ui.client.post(f"/api/v1/approvals/{reply['id']}/approve", headers=ui.bearer("approver"))
    assert r.status_code == 200


# -- the queue -------------------------------------------------------------------------------------
async def test_queue_shows_provenance_and_readable_arguments(ui: Ui) -> None:
    r = await ui.get("/ui/queue", role="viewer")
    assert r.status_code == 200
    html = r.text
    assert "Charged twice for March" in html and "ann.lee@example.com" in html  # the ticket it came from
    assert "public reply" in html and "Thanks, we have refunded the duplicate charge." in html
    assert "medium risk" in html and "low risk" in html
    assert "+ billing" in html and "→" in html  # update_ticket as field changes
    assert f"/ui/runs/{ui.run_id}" in html
    # a viewer reads but cannot decide
    assert "Approve <kbd>a</kbd>" not in html and "the <b>approver</b> role decides" in html
    # newest first
    ids = re.findall(r'id="a-([0-9a-f]+)"', html)
    created = {a["id"]: a["created_at"] for a in ui.pending()}
    assert ids == sorted(ids, key=lambda i: created[i], reverse=True)


async def test_status_tabs_and_expired_items(ui: Ui) -> None:
    reply, update = _reply(ui), _update(ui)
    with ui.c.db.session() as s:
        s.get(Action, update["id"]).status = "expired"  # type: ignore[union-attr]
        s.get(Action, reply["id"]).expires_at = utcnow() - timedelta(minutes=1)  # type: ignore[union-attr]
    html = (await ui.get("/ui/queue?status=expired")).text
    assert f'id="a-{update["id"]}"' in html and f'id="a-{reply["id"]}"' not in html
    # a pending item past its deadline shows as expired, with no buttons, before the sweeper gets to it
    html = (await ui.get("/ui/queue?status=pending", role="approver")).text
    item = html[html.index(f'id="a-{reply["id"]}"') :]
    assert "no decision in time" in item[:6000] and f"/ui/queue/{reply['id']}/approve" not in item[:6000]
    html = (await ui.get("/ui/queue?status=all")).text
    assert 'Expired <span class="n">1</span>' in html and 'All <span class="n">2</span>' in html
    html = (await ui.get("/ui/queue?status=rejected")).text
    assert "No rejected items" in html


async def test_edit_then_approve_records_the_diff(ui: Ui) -> None:
    reply = _reply(ui)
    r = await ui.get(f"/ui/queue/{reply['id']}/edit", role="approver", headers={"HX-Request": "true"})
    assert r.status_code == 200 and 'name="f_body"' in r.text and 'name="f_public"' in r.text
    form = {"mode": "edit", "f_ticket_id": "5", "f_body": "Edited by a person.", "f_public": ["false"]}
    r = await ui.post(
        f"/ui/queue/{reply['id']}/approve", role="approver", data=form, headers={"HX-Request": "true"}
    )
    assert r.status_code == 200 and "Approved" in r.text and "edited" in r.text
    done = approvals.get_action(ui.c.db, reply["id"])
    assert done["status"] == "approved" and done["decided_by"] == "approver-user"
    assert done["arguments"] == {"ticket_id": 5, "body": "Edited by a person.", "public": False}
    with ui.c.db.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.event == "action.approved")).one()
        assert entry.data["diff"]["body"] == {"from": reply["arguments"]["body"], "to": "Edited by a person."}
        assert entry.data["diff"]["public"] == {"from": True, "to": False}


async def test_the_approve_button_approves_the_version_on_the_page(ui: Ui) -> None:
    """The queue's approve form carries the version of the arguments it shows: a form older than
    the item (edited meanwhile) is refused with the reason, and approves nothing."""
    reply = _reply(ui)
    html = (await ui.get("/ui/queue?status=pending", role="approver")).text
    item = html[html.index(f'id="a-{reply["id"]}"') :]
    [version] = re.findall(r'name="version" value="([0-9a-f]+)"', item[:6000])[:1]
    assert version == approvals.get_action(ui.c.db, reply["id"])["version"]
    url, htmx = f"/ui/queue/{reply['id']}/approve", {"HX-Request": "true"}
    r = await ui.post(url, role="approver", data={"version": "0123456789abcdef"}, headers=htmx)
    assert r.status_code == 409 and "is not a version of action" in r.text and "has not been edited" in r.text
    assert approvals.get_action(ui.c.db, reply["id"])["status"] == "pending"
    r = await ui.post(url, role="approver", data={"version": version}, headers=htmx)
    assert r.status_code == 200 and approvals.get_action(ui.c.db, reply["id"])["status"] == "approved"


async def test_edit_errors_are_shown_inline_and_nothing_is_approved(ui: Ui) -> None:
    reply = _reply(ui)
    url = f"/ui/queue/{reply['id']}/approve"
    htmx = {"HX-Request": "true"}
    form = {"mode": "edit", "f_ticket_id": "five", "f_body": "   ", "f_public": ["false", "true"]}
    r = await ui.post(url, role="approver", data=form, headers=htmx)
    assert r.status_code == 422
    assert "Ticket id must be a whole number" in r.text and "Body is required" in r.text
    assert r.headers["hx-retarget"] == f"#a-{reply['id']} .qi-body"  # the form is replaced, not the item
    assert 'value="five"' in r.text  # what was typed is kept
    assert approvals.get_action(ui.c.db, reply["id"])["status"] == "pending"
    # the tool's schema is the final judge: an unknown enum value comes back with its message
    update = _update(ui)
    form = {"mode": "edit", "f_ticket_id": "5", "f_priority": "whenever"}
    r = await ui.post(f"/ui/queue/{update['id']}/approve", role="approver", data=form, headers=htmx)
    assert r.status_code == 422 and "schema" in r.text and "whenever" in r.text
    assert approvals.get_action(ui.c.db, update["id"])["status"] == "pending"


async def test_reject_needs_a_reason(ui: Ui) -> None:
    update = _update(ui)
    url = f"/ui/queue/{update['id']}/reject"
    r = await ui.post(url, role="approver", data={"reason": "  "}, headers={"HX-Request": "true"})
    assert r.status_code == 422 and "reason is required" in r.text and "reject-form open" in r.text
    r = await ui.post(
        url, role="approver", data={"reason": "priority is fine"}, headers={"HX-Request": "true"}
    )
    assert r.status_code == 200 and "Rejected" in r.text and "priority is fine" in r.text
    assert approvals.get_action(ui.c.db, update["id"])["reason"] == "priority is fine"
    r = await ui.post(url, role="approver", data={"reason": "again"}, headers={"HX-Request": "true"})
    assert r.status_code == 409 and "no longer pending" in r.text


async def test_bulk_decides_low_risk_items_only(ui: Ui) -> None:
    reply, update = _reply(ui), _update(ui)
    assert (reply["risk"], update["risk"]) == ("medium", "low")
    form = {"ids": [reply["id"], update["id"]], "decision": "approve"}
    r = await ui.post("/ui/queue/bulk", role="approver", data=form, headers={"HX-Request": "true"})
    assert (
        r.status_code == 200
        and "Approved 1 item." in r.text
        and "medium risk; open it and decide it on its own" in r.text
    )
    assert approvals.get_action(ui.c.db, update["id"])["status"] == "approved"
    assert approvals.get_action(ui.c.db, reply["id"])["status"] == "pending"
    r = await ui.post("/ui/queue/bulk", role="approver", data={"ids": [reply["id"]], "decision": "reject"})
    assert r.status_code == 422 and "a reason is required" in r.text


async def test_whoever_asked_cannot_decide(ui: Ui) -> None:
    """Four eyes: an approver sees their own run's proposals without buttons, and a post is refused."""
    reply = _reply(ui)
    with ui.c.db.session() as s:
        s.get(Action, reply["id"]).requested_by = "approver-user"  # type: ignore[union-attr]
    html = (await ui.get(f"/ui/queue/{reply['id']}", role="approver")).text
    assert "You asked for this" in html and f"/ui/queue/{reply['id']}/approve" not in html
    r = await ui.post(f"/ui/queue/{reply['id']}/approve", role="approver", headers={"HX-Request": "true"})
    assert r.status_code == 403 and "four eyes" in r.text
    assert approvals.get_action(ui.c.db, reply["id"])["status"] == "pending"


def ui_principal(name: str):  # type: ignore[no-untyped-def]
    from app.services.auth import Principal

    return Principal(name=name, role="admin")


async def test_the_stamp_tells_the_page_when_to_refresh(ui: Ui) -> None:
    stamp = dashboard.queue_stamp(ui.c.db)
    r = await ui.get(f"/ui/queue/stamp?stamp={stamp}", role="viewer")
    assert r.status_code == 204
    approvals.reject(ui.c.db, _update(ui)["id"], ui_principal("admin-user"), "no")
    r = await ui.get(f"/ui/queue/stamp?stamp={stamp}", role="viewer")
    assert r.status_code == 200 and r.headers["hx-trigger"] == "queue-changed"
    r = await ui.get("/ui/queue/panel?status=pending", role="viewer")
    assert r.text.count('class="queue-item') == 1 and dashboard.queue_stamp(ui.c.db) in r.text


# -- runs, dashboard, connections, tokens ---------------------------------------------------------
async def test_run_trace_shows_steps_decisions_and_write_results(ui: Ui) -> None:
    reply, update = _reply(ui), _update(ui)
    approvals.approve(ui.c.db, reply["id"], ui_principal("admin-user"), ui.c.pool.catalogue)
    approvals.reject(ui.c.db, update["id"], ui_principal("admin-user"), "leave the priority")
    await ui.c.orchestrator.drain("w")
    html = (await ui.get(f"/ui/runs/{ui.run_id}", role="viewer")).text
    assert "billing" in html and "mentions a double charge" in html  # classification on top
    assert "Thanks, we have refunded the duplicate charge." in html  # the draft
    assert "helpdesk__get_ticket" in html and "model call" in html and "triage/classify" in html
    assert "leave the priority" in html and "admin-user" in html
    done = approvals.get_action(ui.c.db, reply["id"])
    assert done["status"] == "succeeded"
    assert f"<code>{done['result']['data']['comment_id']}</code>" in html  # the help desk's own id
    r = await ui.get("/ui/runs?status=succeeded", role="viewer")
    assert ui.run_id[:8] in r.text and "Charged twice for March" in r.text
    assert "No runs with status failed" in (await ui.get("/ui/runs?status=failed")).text
    assert (await ui.get("/ui/runs/nope")).status_code == 404


async def test_dashboard_figures(ui: Ui) -> None:
    reply, update = _reply(ui), _update(ui)
    approvals.approve(
        ui.c.db,
        reply["id"],
        ui_principal("admin-user"),
        ui.c.pool.catalogue,
        {**reply["arguments"], "body": "B"},
    )
    approvals.reject(ui.c.db, update["id"], ui_principal("admin-user"), "no")
    s = dashboard.stats(ui.c.db, days=7)
    assert s["item_count"] == 1 and s["categories"] == [("billing", 1)] and s["priorities"] == [("high", 1)]
    assert s["approval_rate"] == 0.5 and s["edits_per_approval"] == 1.0
    assert s["median_decision_seconds"] is not None and s["median_decision_seconds"] >= 0
    assert s["tokens_per_item"] and s["tokens_per_item"] > 0
    assert [e["connection"] for e in s["errors_by_connection"]] == ["helpdesk"]
    html = (await ui.get("/ui/dashboard?days=7", role="viewer")).text
    assert html.count('<svg class="chart"') >= 4 and "50%" in html and "1.00" in html


async def test_connection_test_button(ui: Ui) -> None:
    html = (await ui.get("/ui/connections", role="viewer")).text
    assert "helpdesk" in html and "not checked" in html and "Operators can test connections" in html
    assert "s3cr3t" not in html
    r = await ui.post("/ui/connections/helpdesk/test", role="operator", headers={"HX-Request": "true"})
    assert r.status_code == 200 and "healthy" in r.text and "Tested just now: it answers" in r.text
    assert (await ui.post("/ui/connections/nope/test", role="operator")).status_code == 404


async def test_tokens_are_shown_once_and_can_be_revoked(ui: Ui) -> None:
    r = await ui.post("/ui/tokens", data={"name": "billing-bot", "role": "operator"})
    assert r.status_code == 201
    token = re.search(r'id="new-token" class="mono" readonly value="(sb_[^"]+)"', r.text)
    assert token, r.text
    assert (
        await ui.client.get("/ui/runs", headers={"Cookie": f"sb_token={token.group(1)}"})
    ).status_code == 200
    listing = (await ui.get("/ui/tokens")).text
    assert "billing-bot" in listing and token.group(1) not in listing  # never shown again
    token_id = re.search(r'action="/ui/tokens/([0-9a-f]+)/revoke" data-confirm="Revoke billing-bot', listing)
    assert token_id
    r = await ui.post(f"/ui/tokens/{token_id.group(1)}/revoke")
    assert r.status_code == 303
    assert (
        await ui.client.get("/ui/runs", headers={"Cookie": f"sb_token={token.group(1)}"})
    ).status_code == 302
    r = await ui.post("/ui/tokens", data={"name": "x", "role": "wizard"})
    assert r.status_code == 422 and "role must be one of" in r.text


async def test_chat_page_knows_who_may_approve(ui: Ui) -> None:
    html = (await ui.get("/ui/chat", role="viewer")).text
    assert 'data-can-approve="false"' in html and "read tools only" in html
    html = (await ui.get("/ui/chat", role="approver")).text
    assert 'data-can-approve="true"' in html and 'data-user="approver-user"' in html


async def test_an_approver_corrects_a_category_from_the_run_page(ui: Ui) -> None:
    page = await ui.get(f"/ui/runs/{ui.run_id}", role="viewer")
    assert "Save correction" not in page.text  # viewers see the category, not the form
    page = await ui.get(f"/ui/runs/{ui.run_id}", role="approver")
    assert "Save correction" in page.text
    r = await ui.post(
        f"/ui/runs/{ui.run_id}/classification", role="approver", data={"category": "cancellation"}
    )
    assert r.status_code == 303
    page = await ui.get(f"/ui/runs/{ui.run_id}", role="viewer")
    assert "cancellation" in page.text and "Corrected from" in page.text
    assert (
        await ui.post(f"/ui/runs/{ui.run_id}/classification", role="operator", data={"category": "billing"})
    ).status_code == 403


async def test_queue_card_shows_where_values_came_from_and_the_risk_after_an_edit(ui: Ui) -> None:
    update, reply = _update(ui), _reply(ui)
    card = (await ui.get(f"/ui/queue/{update['id']}", role="viewer")).text
    assert "Where the values came from" in card
    assert (
        "trusted fact" in card and "the run&#39;s ticket" in card and "the classifier&#39;s priority" in card
    )
    # an approver's edit is re-assessed: the card and the API answer show the new risk and why
    link = "https://northwind-refunds.example/claim"
    form = {"mode": "edit", "f_ticket_id": str(reply["arguments"]["ticket_id"]), "f_body": f"Claim at {link}"}
    r = await ui.post(
        f"/ui/queue/{reply['id']}/approve", role="approver", data=form, headers={"HX-Request": "true"}
    )
    assert r.status_code == 200 and "high risk" in r.text and f"&#39;{link}&#39;" in r.text
    assert "edited by approver-user" in r.text and "src-approver" in r.text
    api = await ui.client.post(
        f"/api/v1/approvals/{update['id']}/approve",
        headers={"Authorization": f"Bearer {ui.tokens['approver']}"},
        json={"arguments": {**update["arguments"], "add_tags": ["billing", "vip"]}},
    )
    assert api.status_code == 200, api.text
    body = api.json()
    assert body["provenance"]["add_tags/1"]["source"] == "approver"
    assert any("risk re-assessed" in reason for reason in body["reasons"])
    html = (await ui.get(f"/ui/runs/{ui.run_id}", role="viewer")).text
    assert "Where the values came from" in html
