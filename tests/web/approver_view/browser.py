"""Headless Chromium on the in-process app: every request the page makes is answered by the
fixture's ASGI app (signed in as `role`), so the page is the real one and decisions land in its store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tests.web.conftest import ORIGIN, Ui
from tests.web.support import CHROMIUM, CHROMIUM_ARGS, VIEWPORT


@asynccontextmanager
async def browser_page(ui: Ui, role: str = "approver") -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async def answer(route: Any) -> None:
        req = route.request
        headers = {
            k: v
            for k, v in (await req.all_headers()).items()
            if k.lower() not in ("host", "content-length", "cookie")
        }
        headers["Cookie"] = f"sb_token={ui.tokens[role]}"
        r = await ui.client.request(
            req.method, req.url.removeprefix(ORIGIN), headers=headers, content=req.post_data_buffer
        )
        out = {k: v for k, v in r.headers.items() if k.lower() not in ("content-length", "content-encoding")}
        await route.fulfill(status=r.status_code, headers=out, body=r.content)

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await b.new_context(viewport=VIEWPORT, base_url=ORIGIN)
        context.set_default_timeout(10_000)
        await context.route(f"{ORIGIN}/**", answer)
        page = await context.new_page()
        try:
            yield page
        finally:
            await context.close()
            await b.close()
