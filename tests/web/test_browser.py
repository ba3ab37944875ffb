"""The web UI in headless Chromium against a real `switchboard demo` process.

Uses Debian's Chromium (`apt-get install chromium`), driven by Playwright's
Python client; `playwright install` is never needed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.processes import wait_for
from tests.web.support import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, Demo, browser_missing, demo_process

_missing = browser_missing()
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(_missing is not None, reason=_missing or "")]

if _missing is None:
    from playwright.sync_api import Browser, Page, expect, sync_playwright


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    with demo_process() as d:
        yield d


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def sign_in(page: Page, token: str) -> None:
    page.goto("/ui/login")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/ui/queue$"))


@pytest.fixture
def page(browser: Browser, demo: Demo) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, base_url=demo.base)
    context.set_default_timeout(15_000)
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(p, demo.token)
    yield p
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def api(demo: Demo) -> httpx.Client:
    return httpx.Client(base_url=demo.base, headers={"Authorization": f"Bearer {demo.token}"}, timeout=30)


def pending_run(demo: Demo) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """A seeded run whose proposed reply is still pending: (run id, the reply, its other pending actions)."""
    pending = api(demo).get("/api/v1/approvals?status=pending").json()
    for reply in pending:
        if reply["operation"] == "add_comment":
            others = [a for a in pending if a["run_id"] == reply["run_id"] and a["id"] != reply["id"]]
            return reply["run_id"], reply, others
    raise AssertionError(f"no pending reply in the demo's queue: {pending}")


def test_pages_need_sign_in_and_sign_out_works(browser: Browser, demo: Demo) -> None:
    context = browser.new_context(viewport=VIEWPORT, base_url=demo.base)
    page = context.new_page()
    page.goto("/ui/runs")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=%2Fui%2Fruns$"))
    page.fill("#token", "sb_not-a-real-token")
    page.click("button[type=submit]")
    expect(page.locator(".notice-error")).to_contain_text("unknown, revoked or expired")
    page.fill("#token", demo.token)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/ui/runs$"))  # back where they wanted to go
    cookie = next(c for c in context.cookies() if c["name"] == "sb_token")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.click("text=Sign out")
    expect(page).to_have_url(re.compile(r"/ui/login$"))
    page.goto("/ui/queue")
    expect(page).to_have_url(re.compile(r"/ui/login"))
    context.close()


def test_the_edit_form_takes_the_focus_once_and_never_from_a_chosen_field(page: Page, demo: Demo) -> None:
    _, reply, _ = pending_run(demo)
    item = page.locator(f"#a-{reply['id']}")
    # someone clicks into the reply as soon as the form appears, before htmx settles it
    page.evaluate(
        """() => document.addEventListener("htmx:afterSwap", (e) => {
            const body = e.detail.target.querySelector && e.detail.target.querySelector("textarea[name=f_body]");
            if (body) body.focus();
        })"""
    )
    item.locator(".origin .title").click()
    page.keyboard.press("e")
    expect(item.locator("textarea[name=f_body]")).to_be_focused()
    page.wait_for_timeout(200)  # well past htmx's settle delay (20 ms)
    expect(item.locator("textarea[name=f_body]")).to_be_focused()
    page.keyboard.press("Escape")  # back to the card, nothing decided
    expect(item.locator("textarea[name=f_body]")).to_have_count(0)
    assert api(demo).get(f"/api/v1/approvals/{reply['id']}").json()["status"] == "pending"


def test_keyboard_edit_puts_the_cursor_in_the_form(page: Page, demo: Demo) -> None:
    _, reply, _ = pending_run(demo)
    item = page.locator(f"#a-{reply['id']}")
    item.locator(".origin .title").click()
    page.keyboard.press("e")
    expect(item.locator(".edit-form input:not([type=hidden]), .edit-form textarea").first).to_be_focused()
    page.keyboard.press("Escape")
    expect(item.locator(".edit-form")).to_have_count(0)


def test_edit_approve_and_reject_from_the_queue(page: Page, demo: Demo) -> None:
    run_id, reply, others = pending_run(demo)
    ticket_id = reply["arguments"]["ticket_id"]
    sim = httpx.Client(base_url=f"{demo.base}/sim/helpdesk/api/v2", timeout=30)
    before = [c["body"] for c in sim.get(f"/tickets/{ticket_id}/comments.json").json()["comments"]]

    item = page.locator(f"#a-{reply['id']}")
    expect(item).to_contain_text("public reply")
    expect(item.locator(".reply")).to_contain_text(reply["arguments"]["body"].strip().splitlines()[0])
    expect(item).to_contain_text(f"Ticket #{ticket_id}")  # provenance: the ticket it came from

    # keyboard: select the item, then `e` opens the edit form
    item.locator(".origin .title").click()
    page.keyboard.press("e")
    body = item.locator("textarea[name=f_body]")
    expect(body).to_be_visible()

    # a blank reply is refused inline, and nothing is approved
    body.fill("   ")
    item.get_by_role("button", name="Save and approve").click()
    expect(item.locator(".field-error")).to_contain_text("Body is required")
    assert api(demo).get(f"/api/v1/approvals/{reply['id']}").json()["status"] == "pending"

    edited = f"Hello! We fixed it for you (edited in the browser for ticket {ticket_id})."
    item.locator("textarea[name=f_body]").fill(edited)
    with page.expect_response(re.compile(r"/approve$")) as approved:
        item.get_by_role("button", name="Save and approve").click()
    assert approved.value.status == 200
    assert "Approved" in approved.value.text() and "edited" in approved.value.text()
    decided = api(demo).get(f"/api/v1/approvals/{reply['id']}").json()
    assert decided["status"] != "pending" and decided["edited"] is True
    assert decided["arguments"]["body"] == edited and decided["decided_by"] == "demo-admin"

    # reject the run's other proposals with a reason, with the `r` shortcut
    reasons = {}
    for other in others:
        row = page.locator(f"#a-{other['id']}")
        row.locator(".origin .title").click()
        page.keyboard.press("r")
        reason = f"Not needed for ticket {ticket_id} ({other['operation']})"
        row.locator("input[name=reason]").fill(reason)
        with page.expect_response(re.compile(r"/reject$")) as rejected:
            row.locator("input[name=reason]").press("Enter")
        assert rejected.value.status == 200 and "Rejected" in rejected.value.text()
        assert api(demo).get(f"/api/v1/approvals/{other['id']}").json()["reason"] == reason
        reasons[other["id"]] = reason

    # the edited reply lands in the help desk exactly once
    def landed() -> list[str] | None:
        bodies = [c["body"] for c in sim.get(f"/tickets/{ticket_id}/comments.json").json()["comments"]]
        return bodies if edited in bodies else None

    bodies = wait_for("the edited reply in the help desk", landed, timeout=30, interval=0.2)
    assert bodies.count(edited) == 1 and len(bodies) == len(before) + 1
    assert reply["arguments"]["body"] not in bodies[len(before) :]

    # the run trace shows who decided, the reason, and the help desk's ids for the write
    page.goto(f"/ui/runs/{run_id}")
    for reason in reasons.values():
        expect(page.locator("#main")).to_contain_text(reason)
    row = page.locator(f"#action-{reply['id']}")
    expect(row).to_contain_text("succeeded", timeout=30_000)
    expect(row).to_contain_text("comment_id")
    expect(row).to_contain_text("demo-admin")


def test_new_items_appear_without_reload(page: Page, demo: Demo) -> None:
    sim = httpx.Client(base_url=f"{demo.base}/sim/helpdesk/api/v2", timeout=30)
    created = sim.post(
        "/tickets.json",
        json={
            "ticket": {
                "subject": "Where is my parcel? Order 4471",
                "comment": {"body": "My order has not arrived and tracking has not moved for a week."},
                "requester": {"name": "Ann Lee", "email": "ann.lee@example.com"},
            }
        },
    ).json()["ticket"]
    ticket_id = created["id"]
    expect(page.locator(".queue-item").first).to_be_visible()
    r = api(demo).post(
        "/api/v1/tickets",
        json={
            "subject": created["subject"],
            "body": "My order has not arrived and tracking has not moved for a week.",
            "requester_email": "ann.lee@example.com",
            "external_id": ticket_id,
        },
    )
    assert r.status_code == 202, r.text
    # no reload: the page polls and swaps in the new proposals
    fresh = page.locator(".queue-item", has_text=created["subject"])
    expect(fresh.first).to_be_visible(timeout=30_000)
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1

    # keyboard: ? shows the shortcuts; j/k move the cursor; a approves the item under it
    page.keyboard.press("?")
    expect(page.locator("dialog#help")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("dialog#help")).to_be_hidden()
    first = fresh.first
    first.locator(".origin .title").click()
    expect(first).to_have_class(re.compile(r"\bcursor\b"))
    page.keyboard.press("j")
    expect(first).not_to_have_class(re.compile(r"\bcursor\b"))
    page.keyboard.press("k")
    expect(first).to_have_class(re.compile(r"\bcursor\b"))
    action_id = first.get_attribute("data-id")
    with page.expect_response(re.compile(r"/approve$")) as approved:
        page.keyboard.press("a")
    assert approved.value.status == 200
    assert api(demo).get(f"/api/v1/approvals/{action_id}").json()["decided_by"] == "demo-admin"


def test_chat_streams_an_answer_that_used_a_read_tool(page: Page) -> None:
    page.goto("/ui/chat")
    page.fill("#chat-input", "What is the status of ticket 3?")
    page.keyboard.press("Enter")
    answer = page.locator(".bubble.bot .answer")
    expect(answer).not_to_be_empty(timeout=30_000)
    expect(answer).to_contain_text("Ticket #3")
    expect(answer).not_to_contain_text("untrusted_data")  # a summary, not the raw fenced tool result
    tools = page.locator(".bubble.bot .tools")
    expect(tools).to_contain_text("1 tool called")
    tools.locator("summary").first.click()
    expect(tools).to_contain_text("helpdesk__get_ticket")
    expect(page).to_have_url(re.compile(r"/ui/chat\?c=[0-9a-f]+$"))
    # the conversation survives a reload
    page.reload()
    expect(page.locator(".bubble.me")).to_contain_text("What is the status of ticket 3?")
