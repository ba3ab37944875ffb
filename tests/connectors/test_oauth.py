"""OAuth2 with automatic refresh, against a simulator's own token endpoint over loopback.

The help-desk simulator is served with OAuth on (`SimulatorAuth(oauth=...)`), and the
connector talks to it through `OAuth2ClientCredentials` / `OAuth2RefreshToken`. One fake
wall clock drives both the server's token expiry and the client's refresh decisions,
so "an hour later" takes no time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from connectors.auth import OAuth2ClientCredentials, OAuth2RefreshToken, OAuth2TokenError
from connectors.base import ConnectorError
from connectors.helpdesk.client import HelpdeskConnector
from connectors.http import NO_RETRY, build_client
from connectors.simulator_base import Faults, OAuthIssuer, OAuthSettings, SimulatorAuth, install
from tests.connectors.conftest import FakeSleep, Sim, retry_policy

T0 = 1_750_000_000.0
CLIENT_ID = "switchboard-northwind"
CLIENT_SECRET = "cs-7f3a9d2e-very-secret"


@dataclass
class FakeClock:
    now: float = T0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Recorder:
    """Collects on_token / on_failure calls and what went over the wire."""

    tokens: list[tuple[datetime | None, str | None]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    sent: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, bearer
    statuses: list[tuple[str, int]] = field(default_factory=list)  # path, status

    def on_token(self, expires_at: datetime | None, refresh_token: str | None) -> None:
        self.tokens.append((expires_at, refresh_token))

    async def on_failure(self, message: str) -> None:  # async callbacks are awaited
        self.failures.append(message)

    async def on_request(self, request: httpx.Request) -> None:
        auth = request.headers.get("authorization", "")
        bearer = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        self.sent.append((request.method, request.url.path, bearer))

    async def on_response(self, response: httpx.Response) -> None:
        self.statuses.append((response.request.url.path.rsplit("/", 1)[-1], response.status_code))

    def api_tokens(self) -> list[str | None]:
        return [bearer for _, path, bearer in self.sent if "/oauth/" not in path]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def oauth_sim(make_sim: Callable[..., Sim], clock: FakeClock) -> Sim:
    settings = OAuthSettings(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, expires_in=3600, clock=clock)
    return make_sim(auth=SimulatorAuth(oauth=settings))


def issuer(sim: Sim) -> OAuthIssuer:
    result: OAuthIssuer = sim.app.state.oauth
    return result


def connector(sim: Sim, auth: httpx.Auth, sleep: FakeSleep, rec: Recorder) -> HelpdeskConnector:
    client = build_client(sim.url, auth=auth, retry=retry_policy(sleep), timeout=5.0)
    client.event_hooks = {"request": [rec.on_request], "response": [rec.on_response]}
    return HelpdeskConnector(client)


def client_credentials(sim: Sim, clock: FakeClock, rec: Recorder, **kw: Any) -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials(
        sim.url + "/oauth/token",
        kw.pop("client_id", CLIENT_ID),
        kw.pop("client_secret", CLIENT_SECRET),
        clock=clock,
        on_token=rec.on_token,
        on_failure=rec.on_failure,
        **kw,
    )


def refresh_auth(
    sim: Sim, clock: FakeClock, rec: Recorder, refresh_token: str, **kw: Any
) -> OAuth2RefreshToken:
    return OAuth2RefreshToken(
        sim.url + "/oauth/token",
        CLIENT_ID,
        CLIENT_SECRET,
        refresh_token,
        clock=clock,
        on_token=rec.on_token,
        on_failure=rec.on_failure,
        **kw,
    )


def at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


# --- client credentials ----------------------------------------------------------------------


async def test_client_credentials_token_is_fetched_once_and_reused(
    oauth_sim: Sim, clock: FakeClock, fake_sleep: FakeSleep
) -> None:
    # With OAuth on, the API wants a token: an anonymous request is refused.
    anonymous = oauth_sim.http.get("/api/v2/tickets/1.json")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")

    rec = Recorder()
    auth = client_credentials(oauth_sim, clock, rec)
    c = connector(oauth_sim, auth, fake_sleep, rec)
    try:
        assert (await c.get_ticket(1))["id"] == 1
        assert await c.list_comments(1)
        sam = await c.find_user("sam.okafor@example.com")
        assert sam is not None and sam["name"] == "Sam Okafor"
    finally:
        await c.aclose()

    assert issuer(oauth_sim).token_requests == 1
    tokens = rec.api_tokens()
    assert len(tokens) == 3 and tokens[0] and len(set(tokens)) == 1
    assert [m for m, p, _ in rec.sent if p.endswith("/oauth/token")] == ["POST"]
    assert rec.tokens == [(at(T0 + 3600), None)]
    assert auth.expires_at == at(T0 + 3600)
    assert rec.failures == []


async def test_token_is_refreshed_before_it_expires(
    oauth_sim: Sim, clock: FakeClock, fake_sleep: FakeSleep
) -> None:
    rec = Recorder()
    c = connector(oauth_sim, client_credentials(oauth_sim, clock, rec, refresh_margin=60), fake_sleep, rec)
    try:
        await c.get_ticket(1)
        clock.now = T0 + 3600 - 61  # just outside the margin: keep the token
        await c.get_ticket(1)
        assert issuer(oauth_sim).token_requests == 1
        clock.now = T0 + 3600 - 59  # inside the margin: renew now, while the old one still works
        first = rec.api_tokens()[0]
        assert first is not None and issuer(oauth_sim).validate(first)
        await c.get_ticket(1)
    finally:
        await c.aclose()

    assert issuer(oauth_sim).token_requests == 2
    old, _, new = rec.api_tokens()
    assert old != new
    # No request ever met a 401: the renewal came before the expiry, not after it.
    assert all(status == 200 for _, status in rec.statuses)
    assert [exp for exp, _ in rec.tokens] == [at(T0 + 3600), at(T0 + 3600 - 59 + 3600)]
    # And the server does enforce expiry: the old token is refused once its hour is up.
    clock.now = T0 + 3600
    assert old is not None and not issuer(oauth_sim).validate(old)
    late = oauth_sim.http.get("/api/v2/tickets/1.json", headers={"Authorization": f"Bearer {old}"})
    assert late.status_code == 401
    assert 'error="invalid_token"' in late.headers["www-authenticate"]


async def test_short_lived_tokens_are_not_renewed_on_every_call(
    make_sim: Callable[..., Sim], clock: FakeClock, fake_sleep: FakeSleep
) -> None:
    settings = OAuthSettings(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, expires_in=30, clock=clock)
    sim = make_sim(auth=SimulatorAuth(oauth=settings))
    rec = Recorder()
    c = connector(sim, client_credentials(sim, clock, rec, refresh_margin=60), fake_sleep, rec)
    try:
        await c.get_ticket(1)
        await c.get_ticket(2)
        clock.advance(14)
        await c.get_ticket(3)
        assert issuer(sim).token_requests == 1  # margin cut to half the lifetime (15 s)
        clock.advance(2)
        await c.get_ticket(4)
    finally:
        await c.aclose()
    assert issuer(sim).token_requests == 2


async def test_revoked_token_401_triggers_one_refresh_and_one_retry(
    oauth_sim: Sim, clock: FakeClock, fake_sleep: FakeSleep
) -> None:
    rec = Recorder()
    c = connector(oauth_sim, client_credentials(oauth_sim, clock, rec), fake_sleep, rec)
    try:
        await c.get_ticket(1)
        revoked = oauth_sim.http.post("/_oauth/revoke").json()
        assert revoked["revoked_access_tokens"] == 1
        assert (await c.get_ticket(2))["id"] == 2
    finally:
        await c.aclose()
    assert issuer(oauth_sim).token_requests == 2
    assert [s for _, s in rec.statuses] == [200, 200, 401, 200, 200]
    first, revoked_try, retry = rec.api_tokens()
    assert first == revoked_try != retry
    assert fake_sleep.delays == []  # a 401 is renewed at once, not backed off


async def test_a_401_that_persists_is_refreshed_only_once(
    oauth_sim: Sim, clock: FakeClock, fake_sleep: FakeSleep
) -> None:
    rec = Recorder()
    c = connector(oauth_sim, client_credentials(oauth_sim, clock, rec), fake_sleep, rec)
    try:
        await c.get_ticket(1)
        oauth_sim.faults(reject_auth=True, path="/api/")  # the API refuses even fresh tokens
        with pytest.raises(ConnectorError) as err:
            await c.get_ticket(1)
    finally:
        await c.aclose()
    assert err.value.status == 401 and "rejected the credentials" in str(err.value)
    assert issuer(oauth_sim).token_requests == 2  # one renewal, then give up
    assert [s for _, s in rec.statuses] == [200, 200, 401, 200, 401]


async def test_concurrent_requests_share_one_token_and_one_refresh(
    oauth_sim: Sim, clock: FakeClock, fake_sleep: FakeSleep
) -> None:
    rec = Recorder()
    c = connector(oauth_sim, client_credentials(oauth_sim, clock, rec), fake_sleep, rec)
    try:
        first = await asyncio.gather(*(c.get_ticket(i) for i in range(1, 9)))
        assert issuer(oauth_sim).token_requests == 1
        oauth_sim.http.post("/_oauth/revoke")
        second = await asyncio.gather(*(c.get_ticket(i) for i in range(1, 9)))
    finally:
        await c.aclose()
    assert [t["id"] for t in first] == [t["id"] for t in second] == list(range(1, 9))
    assert issuer(oauth_sim).token_requests == 2
    assert len(rec.tokens) == 2


# --- refresh tokens --------------------------------------------------------------------------


async def test_rotating_refresh_token_is_kept_and_handed_to_on_token(
    oauth_sim: Sim, clock: FakeClock, fake_sleep: FakeSleep
) -> None:
    granted = oauth_sim.http.post("/_oauth/grant").json()  # a person authorized the app
    rt0 = granted["refresh_token"]
    rec = Recorder()
    auth = refresh_auth(
        oauth_sim, clock, rec, rt0, access_token=granted["access_token"], expires_at=at(T0 + 3600)
    )
    c = connector(oauth_sim, auth, fake_sleep, rec)
    try:
        await c.get_ticket(1)  # the stored access token is still good: no refresh
        assert issuer(oauth_sim).token_requests == 0

        clock.advance(3600)
        await c.get_ticket(1)
        assert len(rec.tokens) == 1
        expires, rt1 = rec.tokens[0]
        assert expires == at(T0 + 7200) and rt1 and rt1 != rt0
        # The server rotated it: the old refresh token is dead now.
        stale = oauth_sim.http.post(
            "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": rt0},
            auth=(CLIENT_ID, CLIENT_SECRET),
        )
        assert (stale.status_code, stale.json()["error"]) == (400, "invalid_grant")

        clock.advance(3600)
        await c.get_ticket(1)  # succeeds only if the client kept rt1
    finally:
        await c.aclose()
    assert [rt for _, rt in rec.tokens][1] not in (None, rt0, rt1)
    assert rec.failures == []
    assert issuer(oauth_sim).refreshed == 2


async def test_refused_refresh_calls_on_failure_and_says_credentials_need_renewing(
    oauth_sim: Sim, clock: FakeClock, fake_sleep: FakeSleep
) -> None:
    rt = oauth_sim.http.post("/_oauth/grant").json()["refresh_token"]
    oauth_sim.http.post("/_oauth/revoke")  # e.g. the person revoked the app's access
    before = oauth_sim.fault_stats()["requests"]
    rec = Recorder()
    auth = refresh_auth(oauth_sim, clock, rec, rt)
    c = connector(oauth_sim, auth, fake_sleep, rec)
    try:
        with pytest.raises(ConnectorError) as err:
            await c.get_ticket(1)
    finally:
        await c.aclose()
    assert isinstance(err.value, OAuth2TokenError)
    message = str(err.value)
    assert "invalid_grant" in message and "need renewing" in message and "sign in again" in message
    assert err.value.needs_reauth and not err.value.retryable and err.value.status == 400
    assert rec.failures == [message]
    assert rec.tokens == []
    # Only the token request reached the server; the API was never called with nothing.
    assert oauth_sim.fault_stats()["requests"] - before == 1
    for secret in (rt, CLIENT_SECRET):
        assert secret not in message and secret not in repr(auth) and secret not in str(auth)


async def test_wrong_client_secret_is_a_credentials_problem(
    oauth_sim: Sim, clock: FakeClock, fake_sleep: FakeSleep
) -> None:
    rec = Recorder()
    auth = client_credentials(oauth_sim, clock, rec, client_secret="not-the-secret")
    c = connector(oauth_sim, auth, fake_sleep, rec)
    try:
        with pytest.raises(OAuth2TokenError) as err:
            await c.get_ticket(1)
    finally:
        await c.aclose()
    assert "invalid_client" in str(err.value) and "client secret" in str(err.value)
    assert err.value.status == 401 and err.value.needs_reauth
    assert len(rec.failures) == 1 and "not-the-secret" not in rec.failures[0]


async def test_token_endpoint_outage_is_retryable_not_a_credentials_problem(
    oauth_sim: Sim, clock: FakeClock, fake_sleep: FakeSleep
) -> None:
    rec = Recorder()
    c = connector(oauth_sim, client_credentials(oauth_sim, clock, rec), fake_sleep, rec)
    try:
        oauth_sim.faults(fail_next=1, status=503, path="/oauth/token")
        with pytest.raises(OAuth2TokenError) as err:
            await c.get_ticket(1)
        assert err.value.retryable and not err.value.needs_reauth
        assert "try again later" in str(err.value)
        assert (await c.get_ticket(1))["id"] == 1  # back: works without anyone stepping in
    finally:
        await c.aclose()
    assert rec.failures == []


async def test_token_without_expiry_is_used_until_the_api_refuses_it(clock: FakeClock) -> None:
    """Some servers omit expires_in: keep the token until a 401, and say the expiry is unknown."""
    issued: list[str] = []
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            assert request.headers["content-type"] == "application/x-www-form-urlencoded"
            assert (
                b"grant_type=client_credentials" in request.content and b"scope=read+write" in request.content
            )
            # The token request keeps the client's timeout (a bare Request would wait forever).
            assert request.extensions["timeout"]["read"] == 7.0
            issued.append(f"tok{len(issued)}")
            return httpx.Response(200, json={"access_token": issued[-1], "token_type": "bearer"})
        seen.append(request.headers.get("authorization"))
        ok = request.headers.get("authorization") == f"Bearer {issued[-1]}" and len(seen) != 3
        return httpx.Response(200 if ok else 401, json={})

    rec = Recorder()
    auth = OAuth2ClientCredentials(
        "https://auth.example/token", "id", "secret", ["read", "write"], clock=clock, on_token=rec.on_token
    )
    async with build_client(
        "https://api.example", auth=auth, retry=NO_RETRY, timeout=7.0, transport=httpx.MockTransport(handler)
    ) as client:
        for _ in range(3):
            assert (await client.get("/x")).status_code == 200
            clock.advance(86400)
    assert seen == ["Bearer tok0", "Bearer tok0", "Bearer tok0", "Bearer tok1"]
    assert rec.tokens == [(None, None), (None, None)] and auth.expires_at is None


def test_auth_needs_an_async_client_and_an_absolute_token_url() -> None:
    auth = OAuth2ClientCredentials("https://auth.example/token", "id", "secret")
    transport = httpx.MockTransport(lambda r: httpx.Response(200))
    with (
        httpx.Client(auth=auth, transport=transport) as client,
        pytest.raises(RuntimeError, match="AsyncClient"),
    ):
        client.get("https://api.example/")
    with pytest.raises(ValueError, match="absolute"):
        OAuth2ClientCredentials("/oauth/token", "id", "secret")


# --- the simulator's token endpoint, in the RFC 6749 wire format ----------------------------


def test_token_endpoint_wire_format(oauth_sim: Sim, clock: FakeClock) -> None:
    http = oauth_sim.http
    ok = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "tickets:read"},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert ok.status_code == 200
    assert ok.headers["cache-control"] == "no-store"
    body = ok.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["scope"] == "tickets:read"
    assert "refresh_token" not in body  # none for client credentials (RFC 6749 section 4.4.3)

    # client_secret_post works too
    post = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
    )
    assert post.status_code == 200

    bad_client = http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, "nope")
    )
    assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"
    assert bad_client.headers["www-authenticate"].startswith("Basic")
    anonymous = http.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"

    def error_of(**kw: Any) -> tuple[int, str]:
        r = http.post("/oauth/token", auth=(CLIENT_ID, CLIENT_SECRET), **kw)
        return r.status_code, r.json()["error"]

    assert error_of(data={}) == (400, "invalid_request")
    assert error_of(data={"grant_type": "password"}) == (400, "unsupported_grant_type")
    assert error_of(json={"grant_type": "client_credentials"}) == (400, "invalid_request")
    assert error_of(data={"grant_type": "refresh_token"}) == (400, "invalid_request")
    assert error_of(data={"grant_type": "refresh_token", "refresh_token": "rt_made_up"}) == (
        400,
        "invalid_grant",
    )
    stats = http.get("/_oauth").json()
    assert (stats["token_requests"], stats["issued"], stats["refused"]) == (9, 2, 7)
    assert CLIENT_SECRET not in str(stats)

    # The access token opens the API until it expires, not after.
    token = body["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert http.get("/api/v2/tickets/1.json", headers=headers).status_code == 200
    clock.advance(3600)
    expired = http.get("/api/v2/tickets/1.json", headers=headers)
    assert expired.status_code == 401 and expired.json() == {"error": "Couldn't authenticate you"}


def test_refresh_tokens_expire_and_rotation_can_be_turned_off(
    make_sim: Callable[..., Sim], clock: FakeClock
) -> None:
    settings = OAuthSettings(rotate_refresh_tokens=False, refresh_expires_in=600, clock=clock)
    sim = make_sim(auth=SimulatorAuth(oauth=settings))
    rt = sim.http.post("/_oauth/grant", json={"scope": "read"}).json()["refresh_token"]
    creds = (settings.client_id, settings.client_secret)
    form = {"grant_type": "refresh_token", "refresh_token": rt}
    again = sim.http.post("/oauth/token", data=form, auth=creds).json()
    assert again["refresh_token"] == rt and again["scope"] == "read"
    wider = sim.http.post("/oauth/token", data={**form, "scope": "read write"}, auth=creds)
    assert wider.json()["error"] == "invalid_scope"
    clock.advance(600)
    assert sim.http.post("/oauth/token", data=form, auth=creds).json()["error"] == "invalid_grant"


def test_revoke_access_tokens_only(oauth_sim: Sim) -> None:
    granted = oauth_sim.http.post("/_oauth/grant").json()
    out = oauth_sim.http.post("/_oauth/revoke", json={"refresh_tokens": False}).json()
    assert out == {"revoked_access_tokens": 1, "revoked_refresh_tokens": 0}
    headers = {"Authorization": f"Bearer {granted['access_token']}"}
    assert oauth_sim.http.get("/api/v2/tickets/1.json", headers=headers).status_code == 401
    refreshed = oauth_sim.http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": granted["refresh_token"]},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert refreshed.status_code == 200


def test_install_gives_any_simulator_oauth(serve_asgi: Callable[[Any], str], clock: FakeClock) -> None:
    app = FastAPI()

    @app.get("/v1/things")
    async def things() -> dict[str, Any]:
        return {"data": [1, 2]}

    settings = OAuthSettings(
        client_id="c", client_secret="s", expires_in=60, token_path="/oauth2/token", clock=clock
    )
    install(
        app,
        faults=Faults(),
        auth=SimulatorAuth(),
        error_body=lambda s: {"error": {"code": s}},
        oauth=settings,
    )
    with httpx.Client(base_url=serve_asgi(app)) as http:
        assert http.get("/v1/things").status_code == 401
        token = http.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=("c", "s")).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        assert http.get("/v1/things", headers=headers).json() == {"data": [1, 2]}
        clock.advance(60)
        assert http.get("/v1/things", headers=headers).json() == {"error": {"code": 401}}
        assert http.get("/_oauth").json()["issued"] == 1


def test_without_oauth_nothing_changes(helpdesk_sim: Sim) -> None:
    assert helpdesk_sim.app.state.oauth is None
    assert helpdesk_sim.http.get("/api/v2/tickets/1.json").status_code == 200  # anonymous, as before
    assert (
        helpdesk_sim.http.post("/oauth/token", data={"grant_type": "client_credentials"}).status_code == 404
    )
    assert helpdesk_sim.http.post("/_oauth/revoke").status_code == 404
