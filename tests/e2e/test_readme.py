"""The README's own commands, run as written against a running demo.

Every ```sh block of the walk-through, "Trying outages" and "Adding a system"
runs in bash, in order, from a directory laid out like a checkout after
`make demo` (`.venv` and `.switchboard/demo/`), with the demo's port in place of
8000. `curl` fails on an HTTP error status and the script stops at the first
failing command, so any command that does not work as written fails this test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import ROOT, demo_process

pytestmark = pytest.mark.e2e

SECTIONS = ("## A walk through the demo", "### Trying outages", "### Adding a system is configuration")
PRELUDE = """\
set -euo pipefail
curl() { command curl --fail-with-body --max-time 120 "$@"; }
"""


def readme_blocks(text: str) -> dict[str, list[str]]:
    """The ```sh blocks under each section heading of SECTIONS, up to the next heading."""
    out: dict[str, list[str]] = {}
    for heading in SECTIONS:
        start = text.index(heading)
        rest = text[start + len(heading) :]
        nxt = re.search(r"^#{2,3} ", rest, re.M)
        body = rest[: nxt.start()] if nxt else rest
        out[heading] = re.findall(r"```sh\n(.*?)```", body, re.S)
    return out


def test_the_readme_names_its_commands() -> None:
    blocks = readme_blocks((ROOT / "README.md").read_text())
    assert all(blocks.values()), {k: len(v) for k, v in blocks.items()}
    script = "\n".join(b for bs in blocks.values() for b in bs)
    for command in ("connections add pets", "--config", "approvals list", "triage --source", "_faults"):
        assert command in script


def test_every_readme_command_works_against_the_demo(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / ".venv").symlink_to(Path(sys.prefix))
    assert (checkout / ".venv" / "bin" / "switchboard").exists()
    data = checkout / ".switchboard" / "demo"
    data.mkdir(parents=True)
    with demo_process(data, seeded_timeout=120) as demo:
        port = demo.base.rsplit(":", 1)[1]
        blocks = readme_blocks((ROOT / "README.md").read_text())
        body = "\n".join(b for heading in SECTIONS for b in blocks[heading])
        script = PRELUDE + body.replace("127.0.0.1:8000", f"127.0.0.1:{port}").replace(
            "localhost:8000", f"localhost:{port}"
        )
        (tmp_path / "readme.sh").write_text(script)
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SWITCHBOARD_DATA_DIR")}
        env["PATH"] = "/usr/bin:/bin"  # only what the README itself puts on PATH
        done = subprocess.run(
            ["bash", "-x", str(tmp_path / "readme.sh")],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        log = (data / "demo.log").read_text()[-2000:] if (data / "demo.log").exists() else ""
        assert done.returncode == 0, f"{done.stderr[-6000:]}\n--- stdout ---\n{done.stdout[-3000:]}\n{log}"
        out = re.sub(r"[│\s]+", " ", done.stdout)  # table cells wrapped at 80 columns, read as one line
        assert '"public": true' in out  # the approved reply, on the help desk
        assert "helpdesk: ok (after 2 retries: 429, 429" in out  # the injected rate limit, retried
        assert "calls retried in the last hour" in out  # and on the connection's health
        assert "pets: ok" in out and "stock: ok" in out and "desk: ok" in out
        assert "demo's database .switchboard/demo/switchboard.db" in done.stderr
        assert "credential expires within the hour" in out, out[-1500:]
    shutil.rmtree(checkout, ignore_errors=True)
