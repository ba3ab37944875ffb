"""A webhook URL's token never reaches the server log, however the server runs and however the
token's name is written.

1. `switchboard serve --workers 2` with SWITCHBOARD_LOG_FORMAT=json: uvicorn starts its workers
   with `spawn`; each sets up its logging with `configure_logging`, which puts RedactTokens on
   `uvicorn.access`, so a worker's access lines write the token [redacted] too.
2. The service reads the parameter's name percent-decoded (`%74oken` is `token`): what it
   accepts as the token is what the log redacts.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from app.observability.logs import RedactTokens
from app.services.webhooks import _url_token

ROOT = Path(__file__).resolve().parents[2]
SECRET = "tok3nThatMustNotBeLogged9"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_with_workers_in_json_does_not_log_the_url_token(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SWITCHBOARD_DATA_DIR": str(tmp_path / "data"),
        "SWITCHBOARD_LOG_FORMAT": "json",
        "SWITCHBOARD_SECRET_KEY": "review-suite-secret-key-0123456789",
    }
    env.pop("DATABASE_URL", None)
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("w") as o, err.open("w") as e:
        server = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from app.cli.main import main; main()",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "2",
            ],
            env=env,
            cwd=tmp_path,
            stdout=o,
            stderr=e,
        )
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    r = httpx.get(f"http://127.0.0.1:{port}/healthz?token={SECRET}", timeout=5)
                    break
                except httpx.TransportError:
                    assert server.poll() is None, err.read_text()[-2000:]
                    assert time.monotonic() < deadline, "serve did not start"
                    time.sleep(0.5)
            assert r.status_code == 200
            httpx.post(
                f"http://127.0.0.1:{port}/api/v1/webhooks/warehouse?token={SECRET}", json={}, timeout=5
            )
            time.sleep(1.0)
        finally:
            server.terminate()
            server.wait(timeout=30)
    logged = [line for line in (out.read_text() + err.read_text()).splitlines() if SECRET in line]
    assert not logged, f"the webhook URL token was written to the JSON server log: {logged[:2]}"


def test_a_token_the_service_accepts_is_the_token_the_log_redacts() -> None:
    query = f"/api/v1/webhooks/warehouse?%74oken={SECRET}"
    assert _url_token(f"http://sb.example{query}") == SECRET  # accepted as the connection's token
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", query, "1.1", 202),
        None,
    )
    RedactTokens().filter(record)
    assert SECRET not in record.getMessage(), f"the accepted token is logged in clear: {record.getMessage()}"
