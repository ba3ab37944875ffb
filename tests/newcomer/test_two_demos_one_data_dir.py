"""A second `switchboard demo` on the data dir of a demo that is running."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.newcomer._demo import serving_or_exited, start_demo, stop, wait_seeded
from tests.support.processes import free_port

pytestmark = pytest.mark.e2e


def test_a_second_demo_on_a_running_demos_data_dir_leaves_the_first_intact(tmp_path: Path) -> None:
    """A newcomer runs `make demo` in a second terminal (`make demo PORT=8100`, since 8000 is
    taken) while the first still runs; both use `.switchboard/demo`. The second refuses ("a demo
    is already running on DIR"), and the first keeps its pending approvals and its connections."""
    data = tmp_path / ".switchboard" / "demo"
    first_port, second_port = free_port(), free_port()
    first = start_demo(tmp_path, first_port, data)
    second = None
    try:
        assert serving_or_exited(first, first_port), (tmp_path / f"demo-{first_port}.log").read_text()
        token = (data / "admin-token").read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        pending = {a["id"] for a in wait_seeded(first_port, token)}
        second = start_demo(tmp_path, second_port, data)
        served = serving_or_exited(second, second_port)
        if served:
            time.sleep(3)  # its start-up is done by now (the queue was put away before it served)
        stop(second)
        api = httpx.Client(base_url=f"http://127.0.0.1:{first_port}", headers=headers, timeout=10)
        after = {a["id"]: a for a in api.get("/api/v1/approvals", params={"status": "all"}).json()}
        expired = [a for i, a in after.items() if i in pending and a["status"] != "pending"]
        helpdesk = next(c for c in api.get("/api/v1/connections").json() if c["name"] == "helpdesk")
    finally:
        if second is not None:
            stop(second)
        stop(first)
    log = (tmp_path / f"demo-{second_port}.log").read_text()
    assert not expired, (
        f"starting a second demo on the running demo's data dir expired {len(expired)} of its "
        f"pending approvals: {expired[0]['reason']!r}\n--- second demo ---\n{log[-1500:]}"
    )
    assert f":{first_port}/" in helpdesk["base_url"], (
        f"the running demo's helpdesk now points at {helpdesk['base_url']}, the second demo's port"
    )
    assert not served and second.returncode not in (0, None), log[-1500:]
    assert "running" in log, log[-1500:]
