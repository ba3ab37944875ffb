"""Shared by the browser tests and the screenshot script: Debian's Chromium and a demo process."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.support.processes import Demo, demo_process  # noqa: F401  (re-exported for the web tests)

CHROMIUM = os.environ.get("SWITCHBOARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT: Any = {"width": 1280, "height": 800}  # playwright's ViewportSize


def browser_missing() -> str | None:
    """Why browser tests cannot run here, or None when they can."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing: run `apt-get update && apt-get install -y chromium` (Debian's build)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return (
            "playwright is not installed: `.venv/bin/pip install playwright` (no `playwright install` needed)"
        )
    return None
