"""Shared by the browser tests and the screenshot script: Debian's Chromium and a demo process."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import free_port, kill, spawn, wait_for

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


@dataclass
class Demo:
    base: str
    token: str
    data_dir: Path


@contextlib.contextmanager
def demo_process(data_dir: Path | None = None, *, seeded_timeout: float = 90) -> Iterator[Demo]:
    """`switchboard demo` on a free port; yields once it serves and its seeded approvals are in the queue.

    With SWITCHBOARD_WEB_DEMO=URL,DATA_DIR set, uses that demo (already running) instead of starting one.
    """
    existing = os.environ.get("SWITCHBOARD_WEB_DEMO")
    if existing:
        url, _, data_path = existing.partition(",")
        yield Demo(url.rstrip("/"), (Path(data_path) / "admin-token").read_text().strip(), Path(data_path))
        return
    own = data_dir is None
    data = data_dir or Path(tempfile.mkdtemp(prefix="sb-web-"))
    port = free_port()
    proc = spawn(
        ["demo", "--port", str(port), "--data-dir", str(data)],
        {"SWITCHBOARD_POLL_SECONDS": "0.2"},
        data / "demo.log",
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError("demo exited:\n" + (data / "demo.log").read_text()[-3000:])
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for("the demo to serve", up, timeout=90)
        token = (data / "admin-token").read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        wait_for(
            "the demo's seeded approvals",
            lambda: httpx.get(f"{base}/api/v1/approvals", headers=headers, timeout=5).json(),
            timeout=seeded_timeout,
            interval=0.2,
        )
        yield Demo(base=base, token=token, data_dir=data)
    finally:
        kill(proc)
        if own:
            shutil.rmtree(data, ignore_errors=True)
