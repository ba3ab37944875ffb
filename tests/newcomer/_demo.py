"""Start `switchboard demo` as a newcomer does, from a directory of their own (so its note and
data do not land in the checkout), and wait for it to serve or to exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.processes import ROOT


def start_demo(cwd: Path, port: int, data_dir: Path, **env: str) -> subprocess.Popen[bytes]:
    full = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "SWITCHBOARD_DATA_DIR", "SWITCHBOARD_SECRET_KEY")
    }
    full.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", SWITCHBOARD_POLL_SECONDS="0.2", **env)
    log = (cwd / f"demo-{port}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "app", "demo", "--port", str(port), "--data-dir", str(data_dir)],
        cwd=cwd,
        env=full,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def serving_or_exited(proc: subprocess.Popen[bytes], port: int, timeout: float = 120) -> bool:
    """True once the demo answers /healthz; False if it exited first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the demo on port {port} neither served nor exited in {timeout}s")


def wait_seeded(port: int, token: str, timeout: float = 120) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/approvals",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        if r.status_code == 200 and r.json():
            return list(r.json())
        time.sleep(0.3)
    raise AssertionError("the demo's seeded approvals never appeared")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)
