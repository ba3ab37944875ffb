"""The workflows page in headless Chromium against a real `switchboard demo` process:
an operator describes the order chain and dry-runs it (nothing written), an approver
activates it, a paid order in the shop sends its signed webhook, and the triggered run
shows on the page, waiting for approval of the shipment."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.support.processes import wait_for
from tests.web.support import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, Demo, browser_missing, demo_process

_missing = browser_missing()
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(_missing is not None, reason=_missing or "")]

if _missing is None:
    from playwright.sync_api import Browser, Page, expect, sync_playwright

ORDER_CHAIN = (
    "When an order is paid in the shop, check the payment, send it to the warehouse, "
    "log it on the customer in the CRM and post in #orders"
)


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


def token(demo: Demo, name: str, role: str) -> str:
    r = httpx.post(
        f"{demo.base}/api/v1/tokens",
        json={"name": name, "role": role},
        headers={"Authorization": f"Bearer {demo.token}"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def signed_in(browser: Browser, demo: Demo, tok: str) -> Page:
    context = browser.new_context(viewport=VIEWPORT, base_url=demo.base)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto("/ui/login")
    page.fill("#token", tok)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/ui/queue$"))
    return page


def state(demo: Demo, name: str) -> str:
    return httpx.get(f"{demo.base}/sim/{name}/_state", timeout=30).text


def test_describe_dry_run_activate_by_another_person_and_see_a_triggered_run(
    browser: Browser, demo: Demo
) -> None:
    olivia = signed_in(browser, demo, token(demo, "olivia", "operator"))
    olivia.goto("/ui/workflows")
    expect(olivia.get_by_role("heading", name="Workflows", exact=True)).to_be_visible()
    olivia.get_by_text("What can I ask for?").click()
    olivia.get_by_role("button", name=ORDER_CHAIN).click()  # an example fills the box
    expect(olivia.locator("#wf-request")).to_have_value(ORDER_CHAIN)
    olivia.get_by_role("button", name="Draft it").click()
    olivia.wait_for_url(re.compile(r".*/ui/workflows/[0-9a-f]{32}$"))
    workflow_url = olivia.url
    expect(olivia.locator(".page-head .badge", has_text="draft")).to_be_visible()
    steps = olivia.locator(".wf-steps").first
    for text in (
        "get order payment",
        "get charge",
        "lookup sku",
        "create shipment",
        "add note",
        "post message",
    ):
        expect(steps).to_contain_text(re.compile(text, re.I))
    expect(olivia.get_by_text("Every connection and operation it uses exists.")).to_be_visible()
    expect(olivia.get_by_role("button", name="Activate")).to_have_count(0)  # an operator cannot

    before = {
        name: state(demo, name) for name in ("shop", "warehouse", "crm", "chat", "helpdesk", "payments")
    }
    olivia.get_by_role("button", name="Dry run").click()
    result = olivia.get_by_test_id("dry-run")
    expect(result).to_contain_text("none made")
    expect(result.locator(".badge", has_text="wait for approval").first).to_be_visible()
    expect(result.locator(".badge", has_text="read").first).to_be_visible()
    assert {name: state(demo, name) for name in before} == before  # the dry run wrote nothing
    olivia.context.close()

    adam = signed_in(browser, demo, token(demo, "adam", "approver"))
    adam.goto(workflow_url)
    adam.get_by_role("button", name="Activate").click()
    expect(adam.locator(".page-head .badge", has_text="active")).to_be_visible()
    expect(adam.locator(".wf-history")).to_contain_text("adam activated")

    # a checkout in the shop: its signed orders/paid webhook reaches the demo and starts a run
    charges = httpx.get(
        f"{demo.base}/sim/payments/v1/charges?limit=20",
        headers={"Authorization": "Bearer sk_test_demo"},
        timeout=30,
    ).json()["data"]
    charge = next(c["id"] for c in charges if c["captured"] and not c["refunded"])
    r = httpx.post(
        f"{demo.base}/sim/shop/_orders",
        json={
            "email": "raj.patel@example.org",
            "line_items": [{"sku": "NW-LAMP-BRS", "quantity": 1}],
            "payment_reference": charge,
        },
        timeout=30,
    )
    assert [d.get("status") for d in r.json()["deliveries"]] == [202, 202], r.text
    order = r.json()["order"]

    def triggered() -> bool:
        adam.goto(workflow_url)
        return adam.locator(".wf-run-list a").count() > 0

    wait_for("the triggered run on the page", triggered, timeout=60, interval=1.0)
    adam.locator(".wf-run-list a").first.click()
    adam.wait_for_url(re.compile(r".*/ui/runs/[0-9a-f]{32}$"))
    expect(adam.locator("body")).to_contain_text("waiting approval")
    expect(adam.locator("body")).to_contain_text("create_shipment")
    expect(adam.locator("body")).to_contain_text(str(order["order_number"]))
    adam.goto("/ui/workflows")
    expect(adam.locator(".wf-row", has_text="When an order is paid")).to_contain_text("adam")
    adam.context.close()
