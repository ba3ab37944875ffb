"""Fault injection, credentials and mounting of the simulators, end to end over loopback.

These are the failures a connector meets in production (429 with Retry-After, 5xx,
slow answers, answers lost after the write landed, bad or expired credentials),
driven through the simulator's own control endpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from connectors.base import ConnectorError
from connectors.helpdesk.client import HelpdeskConnector
from connectors.helpdesk.simulator import create_app
from connectors.http import BearerAuth, build_client, zendesk_token_auth
from connectors.simulator_base import SimulatorAuth
from tests.connectors.conftest import FakeSleep, Sim, retry_policy


def connector(url: str, sleep: FakeSleep, *, timeout: float = 5.0, **kwargs: Any) -> HelpdeskConnector:
    policy = kwargs.pop("policy", {})
    return HelpdeskConnector(
        build_client(url, retry=retry_policy(sleep, **policy), timeout=timeout, **kwargs)
    )


# --- control endpoints -------------------------------------------------------------------


def test_fault_control_endpoints(helpdesk_sim: Sim) -> None:
    settings = helpdesk_sim.faults(fail_next=2, status=502)
    assert settings["fail_next"] == 2 and settings["status"] == 502
    assert settings["latency_ms"] == 0  # a POST changes only what it names
    assert helpdesk_sim.http.get("/api/v2/tickets/1.json").status_code == 502
    stats = helpdesk_sim.fault_stats()
    assert (stats["fail_next"], stats["requests"], stats["injected"]) == (1, 1, 1)
    bad = helpdesk_sim.http.post("/_faults", json={"explode": True})
    assert bad.status_code == 422 and "explode" in bad.text
    reset = helpdesk_sim.http.delete("/_faults").json()
    assert (reset["fail_next"], reset["requests"]) == (0, 0)
    assert helpdesk_sim.http.get("/api/v2/tickets/1.json").status_code == 200


def test_an_outage_window_ends_by_itself(helpdesk_sim: Sim) -> None:
    down = helpdesk_sim.faults(outage_seconds=60)
    assert 59 < down["outage_left"] <= 60
    assert helpdesk_sim.http.get("/api/v2/tickets/1.json").status_code == 503
    assert helpdesk_sim.http.get("/api/v2/tickets/2.json").status_code == 503  # not used up, unlike fail_next
    assert helpdesk_sim.faults(outage_seconds=0)["outage_left"] == 0  # a window of 0 from now: back
    assert helpdesk_sim.http.get("/api/v2/tickets/1.json").status_code == 200
    assert helpdesk_sim.fault_stats()["injected"] == 2


def test_state_snapshot(helpdesk_sim: Sim) -> None:
    state = helpdesk_sim.get("/_state")
    assert len(state["tickets"]) == 12
    assert len(state["articles"]) == 10
    assert len(state["users"]) >= 8
    assert state["comments"]["1"][0]["body"].startswith("Hi, my order NW-48102")


def test_error_rate_is_reproducible_with_a_seed(helpdesk_sim: Sim) -> None:
    def run() -> list[int]:
        helpdesk_sim.faults(error_rate=0.5, seed=7, status=500)
        return [helpdesk_sim.http.get("/api/v2/tickets/1.json").status_code for _ in range(12)]

    first, second = run(), run()
    assert first == second
    assert set(first) == {200, 500}


def test_faults_can_target_methods_and_paths(helpdesk_sim: Sim) -> None:
    helpdesk_sim.faults(fail_next=1, methods=["PUT"], path="/tickets/")
    assert helpdesk_sim.http.get("/api/v2/tickets/1.json").status_code == 200
    put = helpdesk_sim.http.put("/api/v2/tickets/1.json", json={"ticket": {"priority": "low"}})
    assert put.status_code == 503
    assert put.json() == {
        "error": "ServiceUnavailable",
        "description": "The server answered 503; try again later",
    }


# --- retries against injected faults -----------------------------------------------------


async def test_rate_limited_twice_then_served(helpdesk_sim: Sim, fake_sleep: FakeSleep) -> None:
    helpdesk_sim.faults(rate_limit_next=2, retry_after=3)
    c = connector(helpdesk_sim.url, fake_sleep)
    try:
        assert (await c.get_ticket(1))["id"] == 1
    finally:
        await c.aclose()
    assert fake_sleep.delays == [3.0, 3.0]
    assert helpdesk_sim.fault_stats()["requests"] == 3


async def test_persistent_503_surfaces_after_max_attempts(helpdesk_sim: Sim, fake_sleep: FakeSleep) -> None:
    helpdesk_sim.faults(fail_next=100)
    c = connector(helpdesk_sim.url, fake_sleep, policy={"max_attempts": 3})
    try:
        with pytest.raises(ConnectorError) as err:
            await c.search_tickets("refund")
    finally:
        await c.aclose()
    assert err.value.status == 503 and err.value.retryable
    assert "ServiceUnavailable" in str(err.value)
    assert helpdesk_sim.fault_stats()["requests"] == 3
    assert fake_sleep.delays == [0.5, 1.0]


async def test_slow_answers_time_out_and_are_retried(helpdesk_sim: Sim, fake_sleep: FakeSleep) -> None:
    helpdesk_sim.faults(latency_ms=150)
    c = connector(helpdesk_sim.url, fake_sleep, timeout=0.02, policy={"max_attempts": 2})
    try:
        with pytest.raises(ConnectorError, match="did not answer in time") as err:
            await c.get_ticket(1)
    finally:
        await c.aclose()
    assert err.value.retryable
    assert len(fake_sleep.delays) == 1  # one retry, then surfaced


async def test_comment_answer_lost_after_write_then_retried_with_key(
    helpdesk_sim: Sim, fake_sleep: FakeSleep
) -> None:
    """The crash case in small: the write lands, the answer never arrives, the caller
    tries again with the same key - and the comment exists once."""
    before = len(helpdesk_sim.get("/api/v2/tickets/2/comments.json")["comments"])
    helpdesk_sim.faults(delay_after_write_ms=500)
    c = connector(helpdesk_sim.url, fake_sleep, timeout=0.1)
    try:
        with pytest.raises(ConnectorError) as err:
            await c.add_comment(2, "Try the reset link again.", idempotency_key="act-55")
        assert err.value.retryable
        assert fake_sleep.delays == []  # the PUT was not repeated by the HTTP layer
        assert len(helpdesk_sim.get("/api/v2/tickets/2/comments.json")["comments"]) == before + 1
        helpdesk_sim.http.delete("/_faults")
        again = await c.add_comment(2, "Try the reset link again.", idempotency_key="act-55")
    finally:
        await c.aclose()
    assert again["deduplicated"] is True and again["comment_id"] is not None
    assert len(helpdesk_sim.get("/api/v2/tickets/2/comments.json")["comments"]) == before + 1


async def test_create_with_key_retried_after_lost_answer_makes_one_ticket(
    helpdesk_sim: Sim, fake_sleep: FakeSleep
) -> None:
    count = len(helpdesk_sim.state.tickets)
    # The write lands at once, its answer comes late; the client gives up first. The client's
    # half second leaves a loaded machine time to make the write before it gives up.
    helpdesk_sim.faults(delay_after_write_ms=1500)
    fake_sleep.then = helpdesk_sim.app.state.faults.reset  # the outage ends before the retry
    c = connector(helpdesk_sim.url, fake_sleep, timeout=0.5)
    try:
        result = await c.create_ticket(
            "Late order", "Where is it?", "greta.lindqvist@example.net", idempotency_key="a-1"
        )
    finally:
        await c.aclose()
    assert len(fake_sleep.delays) == 1
    assert result["deduplicated"] is True  # the retry found the first attempt's ticket
    assert len(helpdesk_sim.state.tickets) == count + 1


async def test_create_without_key_is_not_retried_after_lost_answer(
    helpdesk_sim: Sim, fake_sleep: FakeSleep
) -> None:
    count = len(helpdesk_sim.state.tickets)
    helpdesk_sim.faults(delay_after_write_ms=500)
    c = connector(helpdesk_sim.url, fake_sleep, timeout=0.1)
    try:
        with pytest.raises(ConnectorError):
            await c.create_ticket("Late order", "Where is it?", "greta.lindqvist@example.net")
    finally:
        await c.aclose()
    assert fake_sleep.delays == []
    assert len(helpdesk_sim.state.tickets) == count + 1


async def test_post_503_without_key_not_retried_but_with_key_retried(
    helpdesk_sim: Sim, fake_sleep: FakeSleep
) -> None:
    helpdesk_sim.faults(fail_next=1, methods=["POST"])
    c = connector(helpdesk_sim.url, fake_sleep)
    try:
        with pytest.raises(ConnectorError) as err:
            await c.create_ticket("A", "a", "sam.okafor@example.com")
        assert err.value.status == 503
        helpdesk_sim.faults(fail_next=1)
        created = await c.create_ticket("A", "a", "sam.okafor@example.com", idempotency_key="a-2")
    finally:
        await c.aclose()
    assert created["deduplicated"] is False
    assert fake_sleep.delays == [0.5]


# --- credentials ---------------------------------------------------------------------------


@pytest.fixture
def locked_sim(make_sim: Callable[..., Sim]) -> Sim:
    return make_sim(
        auth=SimulatorAuth(
            basic=("ops@northwind.example/token", "tok-good"), bearer=frozenset({"oauth-good"})
        )
    )


async def test_api_token_and_bearer_accepted(locked_sim: Sim, fake_sleep: FakeSleep) -> None:
    for auth in (zendesk_token_auth("ops@northwind.example", "tok-good"), BearerAuth("oauth-good")):
        c = connector(locked_sim.url, fake_sleep, auth=auth)
        try:
            assert (await c.check())["ok"] is True
        finally:
            await c.aclose()


@pytest.mark.parametrize(
    "auth",
    [zendesk_token_auth("ops@northwind.example", "tok-bad"), BearerAuth("oauth-bad"), None],
    ids=["wrong-token", "wrong-bearer", "none"],
)
async def test_bad_credentials_are_a_clear_error(
    locked_sim: Sim, fake_sleep: FakeSleep, auth: httpx.Auth | None
) -> None:
    c = connector(locked_sim.url, fake_sleep, auth=auth)
    try:
        with pytest.raises(ConnectorError) as err:
            await c.get_ticket(1)
    finally:
        await c.aclose()
    assert err.value.status == 401 and not err.value.retryable
    assert "rejected the credentials" in str(err.value)
    assert "Couldn't authenticate you" in str(err.value)
    assert fake_sleep.delays == []


async def test_expired_credentials_fault(helpdesk_sim: Sim, fake_sleep: FakeSleep) -> None:
    helpdesk_sim.faults(reject_auth=True)
    c = connector(helpdesk_sim.url, fake_sleep)
    try:
        with pytest.raises(ConnectorError) as err:
            await c.check()
    finally:
        await c.aclose()
    assert err.value.status == 401


def test_control_endpoints_need_no_credentials(locked_sim: Sim) -> None:
    assert locked_sim.http.get("/api/v2/tickets/1.json").status_code == 401
    assert locked_sim.http.post("/_faults", json={"latency_ms": 0}).status_code == 200
    assert locked_sim.http.get("/_state").status_code == 200


async def test_basic_auth_user_acts_as_itself(make_sim: Callable[..., Sim], fake_sleep: FakeSleep) -> None:
    sim = make_sim(auth=SimulatorAuth(basic=("marco.rossi@northwind.example/token", "t")))
    c = connector(sim.url, fake_sleep, auth=zendesk_token_auth("marco.rossi@northwind.example", "t"))
    try:
        assert (await c.check())["user"]["name"] == "Marco Rossi"
        result = await c.add_comment(2, "On it.")
    finally:
        await c.aclose()
    marco = sim.state.user_by_email("marco.rossi@northwind.example")
    last = sim.state.ticket_comments(2)[-1]
    assert marco is not None
    assert (last["id"], last["author_id"]) == (result["comment_id"], marco["id"])


# --- mounted like the demo ---------------------------------------------------------------


async def test_mounted_under_sim_helpdesk(make_sim: Callable[..., Sim], fake_sleep: FakeSleep) -> None:
    demo = FastAPI()
    demo.mount("/sim/helpdesk", create_app())
    root = make_sim(demo)
    url = f"{root.url}/sim/helpdesk"
    c = connector(url, fake_sleep)
    try:
        ticket = await c.get_ticket(1)
        result = await c.add_comment(1, "Refund on its way.", idempotency_key="m-1")
    finally:
        await c.aclose()
    assert ticket["url"] == f"{url}/api/v2/tickets/1.json"
    comments = root.get("/sim/helpdesk/api/v2/tickets/1/comments.json")["comments"]
    assert comments[-1]["id"] == result["comment_id"]
    assert root.http.post("/sim/helpdesk/_faults", json={"fail_next": 1}).status_code == 200
    assert root.http.get("/sim/helpdesk/api/v2/tickets/1.json").status_code == 503


def test_unknown_endpoint_answers_in_zendesk_shape(helpdesk_sim: Sim) -> None:
    response = helpdesk_sim.http.get("/api/v2/nothing.json")
    assert response.status_code == 404
    assert response.json() == {"error": "InvalidEndpoint", "description": "Not found"}
    bad = helpdesk_sim.http.put("/api/v2/tickets/1.json", content=b"{not json")
    assert bad.status_code == 400 and bad.json()["error"] == "InvalidValue"
