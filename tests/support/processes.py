"""Start real Switchboard processes for end-to-end tests, and wait on conditions."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0, interval: float = 0.1) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python -m app ARGS` in its own process group, output to `log`."""
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    out = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env=full_env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def kill(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)


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
