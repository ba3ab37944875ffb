"""`switchboard mcp --transport http` serves the tools outside the API's edge, and is rate
limited as the API is: a client guessing tokens (each a store lookup) is refused with 429 after
its burst (SWITCHBOARD_RATE_BURST), while a known token has its own bucket."""

from __future__ import annotations

import httpx

from app.config import Settings
from app.mcp_server import BearerGate, http_app
from app.services.auth import Principal
from connectors.ratelimit import KeyedBuckets
from tests.support.loopback import LoopbackServer
from tests.test_mcp_server import Shop

CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}


def test_token_guessing_over_mcp_http_is_slowed_down() -> None:
    burst = Settings().rate_limit_burst  # what the API allows one client before 429
    checked: list[str] = []
    known = {"right": Principal("ann", "operator")}

    def token_check(token: str) -> Principal | None:  # as mcp_calls.authenticator: a lookup in the store
        checked.append(token)
        return known.get(token)

    shop = Shop()
    # the buckets as the settings make them, on a clock that stands still: no refill mid-test
    limiter = KeyedBuckets(rate=Settings().rate_limit_per_second, burst=burst, clock=lambda: 0.0)
    app = http_app(shop.catalogue, shop.propose, token_check=token_check, limiter=limiter)
    guesses = burst + 150
    with LoopbackServer(app) as server, httpx.Client() as http:
        answers = [
            http.post(
                server.url + "/mcp",
                json=CALL,
                headers={
                    "Authorization": f"Bearer guess-{i}",
                    "Accept": "application/json, text/event-stream",
                },
            ).status_code
            for i in range(guesses)
        ]
    assert answers == [401] * burst + [429] * (guesses - burst)
    assert len(checked) == guesses  # as at the API's edge: the token is looked up, then charged
    with LoopbackServer(app) as server, httpx.Client() as http:
        ok = http.post(
            server.url + "/mcp",
            json=CALL,
            headers={"Authorization": "Bearer right", "Accept": "application/json, text/event-stream"},
        )
    assert ok.status_code == 200  # a known token has a bucket of its own


def test_the_http_app_is_limited_as_the_settings_say_by_default() -> None:
    shop = Shop()
    gate = http_app(shop.catalogue, shop.propose, token_check=lambda token: None)
    assert isinstance(gate, BearerGate) and gate.limiter is not None
    assert (gate.limiter.rate, gate.limiter.burst) == (
        Settings().rate_limit_per_second,
        Settings().rate_limit_burst,
    )
