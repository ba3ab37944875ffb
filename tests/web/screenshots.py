"""Take 1280×800 screenshots of every page of the web UI, from a running demo, into docs/screenshots/.

    make screenshots                                   # starts `switchboard demo` itself
    .venv/bin/python -m tests.web.screenshots --base http://127.0.0.1:8000 --data-dir .switchboard

Uses Debian's Chromium (apt-get install chromium) through Playwright; it walks
the UI like a person: signs in, opens an edit form, decides a few actions so
the run trace and the dashboard have something to show, asks the chat a
question, tests a connection and creates a token.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.web.support import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, Demo, browser_missing, demo_process

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def running_demo(base: str | None, data_dir: Path | None) -> Iterator[Demo]:
    if base:
        if data_dir is None:
            raise SystemExit("--base needs --data-dir (to read the demo's admin-token)")
        yield Demo(base.rstrip("/"), (data_dir / "admin-token").read_text().strip(), data_dir)
    else:
        with demo_process() as demo:
            yield demo


def take(demo: Demo, out: Path) -> list[Path]:
    from playwright.sync_api import expect, sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    api = httpx.Client(base_url=demo.base, headers={"Authorization": f"Bearer {demo.token}"}, timeout=30)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=VIEWPORT, base_url=demo.base, device_scale_factor=1)
        context.set_default_timeout(30_000)
        page = context.new_page()

        def shot(name: str) -> None:
            page.wait_for_load_state("networkidle")
            page.evaluate(
                "document.activeElement && document.activeElement.blur && document.activeElement.blur()"
            )
            path = out / f"{name}.png"
            page.screenshot(path=str(path))
            shots.append(path)
            print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")

        page.goto("/ui/login")
        shot("login")
        page.fill("#token", demo.token)
        page.click("button[type=submit]")
        page.wait_for_url("**/ui/queue")
        expect(page.locator(".queue-item").first).to_be_visible()
        shot("queue")

        pending = api.get("/api/v1/approvals?status=pending").json()
        reply = next((a for a in pending if a["operation"] == "add_comment"), pending[0])
        item = page.locator(f"#a-{reply['id']}")
        item.scroll_into_view_if_needed()
        item.locator(".origin .title").click()
        page.keyboard.press("e")
        expect(item.locator(".edit-form")).to_be_visible()
        page.evaluate(f"document.getElementById('a-{reply['id']}').scrollIntoView({{block: 'start'}})")
        shot("queue-edit")
        item.get_by_role("button", name="Cancel").click()

        # decide a run's proposals (one edited) so the trace and the dashboard have decisions in them
        run_id = reply["run_id"]
        for a in [x for x in pending if x["run_id"] == run_id]:
            if a["id"] == reply["id"]:
                edited = {**a["arguments"], "body": a["arguments"]["body"].replace("Hello,", "Hello Ann,", 1)}
                api.post(f"/api/v1/approvals/{a['id']}/approve", json={"arguments": edited})
            else:
                api.post(
                    f"/api/v1/approvals/{a['id']}/reject",
                    json={"reason": "Tags are set by the routing rule."},
                )
        for _ in range(150):
            if api.get(f"/api/v1/runs/{run_id}").json()["status"] in ("succeeded", "failed"):
                break
            page.wait_for_timeout(200)

        page.goto("/ui/runs")
        shot("runs")
        page.goto(f"/ui/runs/{run_id}")
        shot("run")
        page.locator(".timeline").scroll_into_view_if_needed()
        page.evaluate("document.querySelector('.timeline-wrap').scrollIntoView({block: 'start'})")
        shot("run-timeline")

        page.goto("/ui/chat")
        page.fill("#chat-input", "What is the status of ticket 3?")
        page.keyboard.press("Enter")
        expect(page.locator(".bubble.bot .answer")).not_to_be_empty()
        page.locator(".bubble.bot .tools summary").first.click()
        shot("chat")

        page.goto("/ui/dashboard")
        shot("dashboard")

        page.goto("/ui/connections")
        first = page.locator(".conn").first
        first.get_by_role("button", name="Test connection").click()
        expect(page.locator(".conn").first).to_contain_text("Tested just now")
        shot("connections")

        page.goto("/ui/tokens")
        page.fill("input[name=name]", "billing-bot")
        page.select_option("select[name=role]", "operator")
        page.get_by_role("button", name="Create").click()
        expect(page.locator(".token-once")).to_be_visible()
        shot("tokens")

        # workflows: two drafted by the admin, one activated by a second person and triggered by a paid order
        approver = api.post("/api/v1/tokens", json={"name": "adam", "role": "approver"}).json()["token"]
        as_adam = {"Authorization": f"Bearer {approver}"}
        page.goto("/ui/workflows")
        page.get_by_text("What can I ask for?").click()
        page.fill("#wf-request", "When a dispute opens in payments, open a ticket and post in #billing")
        page.get_by_role("button", name="Draft it").click()
        page.wait_for_url("**/ui/workflows/*")
        page.goto("/ui/workflows")
        page.get_by_text("What can I ask for?").click()
        page.locator(".wf-examples button").first.click()
        page.get_by_role("button", name="Draft it").click()
        page.wait_for_url("**/ui/workflows/*")
        chain = page.url.rsplit("/", 1)[-1]
        api.post(f"/api/v1/workflows/{chain}/activate", headers=as_adam)
        charges = api.get(
            "/sim/payments/v1/charges?limit=20", headers={"Authorization": "Bearer sk_test_demo"}
        )
        charge = next(c["id"] for c in charges.json()["data"] if c["captured"] and not c["refunded"])
        api.post(
            "/sim/shop/_orders",
            json={
                "email": "raj.patel@example.org",
                "line_items": [{"sku": "NW-LAMP-BRS", "quantity": 1}],
                "payment_reference": charge,
            },
        )
        for _ in range(150):
            runs = api.get("/api/v1/workflows").json()[0].get("last_runs")
            if runs and runs[0]["status"] == "waiting_approval":
                break
            page.wait_for_timeout(200)
        page.goto("/ui/workflows")
        shot("workflows")
        page.goto(f"/ui/workflows/{chain}")
        shot("workflow")
        page.get_by_role("button", name="Dry run").click()
        expect(page.get_by_test_id("dry-run")).to_be_visible()
        page.evaluate("document.querySelector('[data-testid=dry-run]').scrollIntoView({block: 'start'})")
        shot("workflow-dry-run")
        page.goto("/ui/work")
        shot("work")
        browser.close()
    return shots


def main() -> None:
    parser = argparse.ArgumentParser(description="Screenshots of the web UI into docs/screenshots/.")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--base", help="a running demo's URL (default: start one)")
    parser.add_argument("--data-dir", type=Path, help="that demo's --data-dir (holds admin-token)")
    args = parser.parse_args()
    missing = browser_missing()
    if missing:
        print(f"cannot take screenshots: {missing}", file=sys.stderr)
        raise SystemExit(2)
    with running_demo(args.base, args.data_dir) as demo:
        print(f"screenshots of {demo.base}:")
        shots = take(demo, args.out)
    print(f"{len(shots)} screenshots in {args.out}")


if __name__ == "__main__":
    main()
