"""The webhook URL token is a credential: it never reaches the server's log.

ShipStation deliveries carry the connection's token in the URL's query (`?token=`). `switchboard
serve` runs uvicorn at log level info with its access log on, and an access line is the request
line with its query string: the token is written there as [redacted] (secrets are never written
to logs), in the text and the JSON log formats alike.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import httpx
import uvicorn

from app.api.app import create_app
from app.observability.logs import configure_logging, uvicorn_log_config
from app.services.webhook_secrets import set_webhook_url_token
from tests.api.test_webhook_url_token_plus import _delivery

TOKEN = "tok3nThatMustNotBeLogged9"


async def test_a_delivery_does_not_write_its_url_token_to_the_log(world: Any, capfd: Any) -> None:
    sy, _, _ = world
    set_webhook_url_token(sy.c.db, sy.c.box, "warehouse", TOKEN, "test")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    names = ("uvicorn", "uvicorn.error", "uvicorn.access")
    kept = {
        n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level, logging.getLogger(n).propagate)
        for n in names
    }
    # As `switchboard serve` (app/cli/main.py) configures logging and uvicorn.
    configure_logging("text", "INFO")
    config = uvicorn.Config(
        create_app(sy.c), host="127.0.0.1", port=port, log_level="info", log_config=uvicorn_log_config("text")
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.02)
        body, headers = _delivery(sy.state("warehouse"))
        async with httpx.AsyncClient() as client:
            r = await client.post(
                f"http://127.0.0.1:{port}/api/v1/webhooks/warehouse?token={TOKEN}",
                content=body,
                headers=headers,
            )
        assert r.status_code == 202, r.text
    finally:
        server.should_exit = True
        await serving
        for n, (handlers, level, propagate) in kept.items():
            logger = logging.getLogger(n)
            logger.handlers[:], logger.propagate = handlers, propagate
            logger.setLevel(level)
    out, err = capfd.readouterr()
    logged = [line for line in (out + err).splitlines() if TOKEN in line]
    assert not logged, f"the connection's webhook URL token was written to the server log: {logged}"
