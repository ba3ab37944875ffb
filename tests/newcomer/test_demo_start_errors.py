"""`switchboard demo` refuses a bad --host, --port or --data-dir in one line naming the real cause."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import ROOT, free_port


def _demo(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SWITCHBOARD_DATA_DIR")}
    env.update(PYTHONPATH=str(ROOT), COLUMNS="120")
    return subprocess.run(
        [sys.executable, "-m", "app", "demo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("host", ["localhsot", "10.255.255.1"])
def test_a_host_the_demo_cannot_listen_on_is_not_called_a_port_in_use(tmp_path: Path, host: str) -> None:
    """`switchboard demo --host localhsot` (a typo) or `--host 10.255.255.1` (an address of
    another machine): the error names the host (cannot be resolved / is not an address of this
    machine) and says nothing of the port, which is free."""
    port = free_port()
    done = _demo(tmp_path, "--host", host, "--port", str(port), "--data-dir", str(tmp_path / "d"))
    said = done.stdout + done.stderr
    assert done.returncode == 2, said
    assert host in said, said
    assert "in use" not in said, f"port {port} is free; the host is the problem:\n{said}"


@pytest.mark.parametrize("make", ["file", "port"])
def test_a_data_dir_that_is_a_file_or_a_port_out_of_range_is_one_line(tmp_path: Path, make: str) -> None:
    """`switchboard demo --data-dir notes.txt` (a file) and `--port 70000`: like a port in use or
    a bad SWITCHBOARD_MODEL, each is one `error:` line naming the option, exit 2."""
    if make == "file":
        (tmp_path / "notes.txt").write_text("x")
        args = ["--port", str(free_port()), "--data-dir", str(tmp_path / "notes.txt")]
        option = "--data-dir"
    else:
        args = ["--port", "70000", "--data-dir", str(tmp_path / "d")]
        option = "--port"
    done = _demo(tmp_path, *args)
    said = done.stdout + done.stderr
    assert "Traceback" not in said and "site-packages" not in said, said[-2500:]
    assert done.returncode == 2, said[-1500:]
    assert option in said or "data dir" in said, said


@pytest.mark.parametrize("command", [["serve"], ["mcp", "--transport", "http"]])
def test_a_server_on_a_port_in_use_says_so_in_one_line(tmp_path: Path, command: list[str]) -> None:
    """`switchboard serve` and `switchboard mcp --transport http` on a port something else holds
    answer as the demo does: one `error:` line naming the port, exit 2, no server log."""
    import socket

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SWITCHBOARD_DATA_DIR")}
    env.update(PYTHONPATH=str(ROOT), COLUMNS="120", SWITCHBOARD_SECRET_KEY="busy-port-secret-key-0123456789")
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "app", "--data-dir", str(tmp_path / "d"), *command, "--port", str(port)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    said = done.stdout + done.stderr
    assert done.returncode == 2, said[-2000:]
    assert f"port {port}" in said and "in use" in said, said[-2000:]
    assert "Errno" not in said, said[-2000:]
