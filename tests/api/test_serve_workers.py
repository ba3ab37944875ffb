"""`switchboard serve --workers N`: several server processes on one port, one database, one key."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import httpx

from app.services.auth import create_token
from app.services.connections import add_connection
from app.store.crypto import SecretBox
from app.store.db import Database
from tests.support.processes import free_port, kill, spawn, wait_for


def test_several_server_processes_share_the_port_the_database_and_the_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sb.db'}"
    env = {
        "DATABASE_URL": url,
        "SWITCHBOARD_DATA_DIR": str(tmp_path),
        "SWITCHBOARD_SECRET_KEY": "a-test-key-of-sixteen-chars-or-more",
        "SWITCHBOARD_ALLOW_PRIVATE_NETWORK": "1",
    }
    db = Database(url)
    db.upgrade()
    token = create_token(db, "ops", "admin", actor="test")[1]
    add_connection(
        db,
        SecretBox(env["SWITCHBOARD_SECRET_KEY"]),
        name="desk",
        kind="helpdesk",
        base_url="http://127.0.0.1:9",
        auth_type="api_key",
        credentials={"key": "k-123"},
        allow_private=True,
    )
    db.dispose()
    port, log = free_port(), tmp_path / "serve.log"
    server = spawn(["serve", "--port", str(port), "--workers", "2"], env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        started = wait_for(
            "two server processes to start",
            lambda: (
                len(set(re.findall(r"Started server process \[(\d+)\]", log.read_text()))) == 2
                and len(re.findall(r"Application startup complete", log.read_text())) >= 2
            ),
        )
        assert started
        headers = {"Authorization": f"Bearer {token}"}
        # Items posted through whichever process takes each request all land in the one
        # database, and every process opens the stored credential with the same key.
        posted = set()
        for n in range(8):
            with httpx.Client(base_url=base, headers=headers, timeout=30) as fresh:
                r = fresh.post(
                    "/api/v1/tickets",
                    json={
                        "subject": f"Ticket {n}",
                        "body": "Where is it?",
                        "requester_email": "ann@example.com",
                    },
                )
                assert r.status_code == 202, r.text
                posted.add(r.json()["run_id"])
                if n == 0:
                    tested = fresh.post("/api/v1/connections/desk/test")
                    assert tested.status_code == 200, tested.text  # unreachable, but the key opened it
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            listed = {r["id"] for r in client.get("/api/v1/runs", params={"limit": 50}).json()}
        assert posted <= listed and len(posted) == 8
        assert httpx.get(f"{base}/api/v1/runs", timeout=30).status_code == 401
    finally:
        kill(server, signal.SIGTERM)
    assert server.returncode is not None
