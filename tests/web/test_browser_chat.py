"""Chat in headless Chromium: a proposed write waits as a card, another person approves it in the
queue, and the chat follows the decision and streams the rest of the answer.

Served in-process (a real HTTP server with the app's worker running) with a scripted model, so
the turn proposes exactly the write under test.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from app.api.app import create_app
from app.llm.scripted import ScriptedModel, text, tool_use
from app.services.auth import create_token
from connectors.helpdesk.simulator import create_app as helpdesk_app
from tests.web.conftest import fast_container
from tests.web.support import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, browser_missing

_missing = browser_missing()
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(_missing is not None, reason=_missing or "")]

if _missing is None:
    from playwright.sync_api import Browser, Page, expect, sync_playwright

NOTE = "We called the customer about the refund today."
ANSWER = "Done: I added an internal note to ticket 5."


class LiveServer:
    """The app over loopback HTTP in a thread, with its lifespan on (so the in-process worker runs)."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_config=None, log_level="warning", lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the live server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    model = ScriptedModel(
        [tool_use("helpdesk__add_comment", {"ticket_id": 5, "body": NOTE, "public": False}), text(ANSWER)]
    )
    sim = helpdesk_app()
    c = fast_container(
        f"sqlite:///{tmp_path / 'chat.db'}", tmp_path, model, sim, SWITCHBOARD_POLL_SECONDS=0.05
    )
    tokens = {role: create_token(c.db, f"{role}-user", role)[1] for role in ("operator", "approver")}
    with LiveServer(create_app(c, simulators={"helpdesk": sim}, run_worker=True)) as server:
        yield server.url, tokens


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def signed_in(browser: Browser, base: str, token: str) -> Page:
    page = browser.new_context(viewport=VIEWPORT, base_url=base).new_page()
    page.set_default_timeout(15_000)
    page.goto("/ui/login")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/ui/queue$"))
    return page


def test_a_write_proposed_in_chat_waits_for_another_persons_approval(
    browser: Browser, live: tuple[str, dict[str, str]]
) -> None:
    base, tokens = live
    asker = signed_in(browser, base, tokens["operator"])
    errors: list[str] = []
    asker.on("pageerror", lambda exc: errors.append(str(exc)))
    asker.goto("/ui/chat")
    asker.fill("#chat-input", "Add a note to ticket 5 that we called the customer")
    asker.keyboard.press("Enter")

    card = asker.locator(".approval-card")
    expect(card).to_contain_text("helpdesk__add_comment")
    expect(card).to_contain_text(NOTE)
    expect(card).to_contain_text("Waiting for another approver")  # four eyes: not the asker's to approve
    expect(card.get_by_role("button", name="Approve")).to_have_count(0)
    expect(asker.locator(".bubble.bot .status")).to_contain_text("Waiting for a decision")

    approver = signed_in(browser, base, tokens["approver"])
    item = approver.locator(".queue-item", has_text=NOTE)
    expect(item).to_contain_text("Add a note to ticket 5")  # provenance: the chat message
    expect(item).to_contain_text("internal note")
    with approver.expect_response(re.compile(r"/approve$")) as approved:
        item.get_by_role("button", name="Approve").click()
    assert approved.value.status == 200

    # the asker's chat notices the decision, resumes the stream and shows the rest of the answer
    expect(card).to_contain_text("approved by approver-user", timeout=10_000)
    expect(asker.locator(".bubble.bot .answer")).to_have_text(ANSWER, timeout=10_000)
    tools = asker.locator(".bubble.bot .tools")
    expect(tools).to_contain_text("1 tool called")  # the write, run after the approval
    expect(tools).to_contain_text("comment_id")  # with the help desk's answer

    comments = httpx.get(f"{base}/sim/helpdesk/api/v2/tickets/5/comments.json").json()["comments"]
    notes = [c for c in comments if c["body"] == NOTE]
    assert len(notes) == 1 and notes[0]["public"] is False
    assert not errors, errors
