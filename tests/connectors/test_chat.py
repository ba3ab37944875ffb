"""The chat connector against its Slack simulator over real loopback HTTP, plus request signing.

Every operation is exercised; writes are read back the way Slack shows them
(conversations.history / conversations.replies) with a plain HTTP client.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from connectors.base import ConnectorError
from connectors.chat.client import ChatConnector, SlackError
from connectors.chat.seed import BOT_ID, BOT_TOKEN, BOT_USER_ID, CHANNELS
from connectors.chat.signing import SignatureError, sign, signed_headers, verify, verify_headers
from connectors.chat.simulator import ChatState, create_app
from connectors.http import BearerAuth, build_client
from tests.connectors.conftest import FakeSleep, Sim, retry_policy
from tools.base import Tool
from tools.from_connector import tools_for

BILLING = "C05BILLING1"
SUPPORT = "C05SUPPORT1"


@pytest.fixture
def chat_sim(make_sim: Callable[..., Sim]) -> Sim:
    return make_sim(app=create_app(tokens=[BOT_TOKEN]))


def chat_state(sim: Sim) -> ChatState:
    state: ChatState = sim.app.state.chat
    return state


@pytest.fixture
async def chat(chat_sim: Sim, fake_sleep: FakeSleep) -> AsyncIterator[ChatConnector]:
    client = build_client(
        chat_sim.url, auth=BearerAuth(BOT_TOKEN), retry=retry_policy(fake_sleep), timeout=5.0
    )
    connector = ChatConnector(client)
    yield connector
    await connector.aclose()


def slack(sim: Sim, method: str, **params: Any) -> dict[str, Any]:
    """Read something back the way Slack shows it (a plain GET with the bot token)."""
    response = sim.http.get(f"/api/{method}", params=params, headers={"Authorization": f"Bearer {BOT_TOKEN}"})
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


# --- reads -----------------------------------------------------------------------------


async def test_check_names_the_bot_and_workspace(chat: ChatConnector) -> None:
    assert await chat.check() == {
        "ok": True,
        "team": "Northwind",
        "user": "switchboard",
        "user_id": BOT_USER_ID,
    }


async def test_list_channels(chat: ChatConnector) -> None:
    channels = await chat.list_channels()
    by_name = {c["name"]: c for c in channels}
    assert set(by_name) == {c[1] for c in CHANNELS}
    assert {"billing", "support", "finance", "general"} <= set(by_name)
    assert by_name["billing"]["id"] == BILLING and by_name["billing"]["is_member"] is True
    assert by_name["random"]["is_member"] is False
    assert by_name["billing"]["topic"].startswith("Refunds")
    assert by_name["finance"]["num_members"] == 3  # two people and the bot
    assert len(await chat.list_channels(limit=2)) == 2


async def test_list_channels_follows_cursor_pagination(chat: ChatConnector, chat_sim: Sim) -> None:
    state = chat_state(chat_sim)
    for i in range(230):
        state.add_channel(name=f"proj-{i:03d}", members=[BOT_USER_ID])
    state.add_channel(name="old-news", members=[BOT_USER_ID], is_archived=True)
    first = slack(chat_sim, "conversations.list", limit=100)
    assert len(first["channels"]) == 100 and first["response_metadata"]["next_cursor"]
    channels = await chat.list_channels(limit=1000)
    names = [c["name"] for c in channels]
    assert len(names) == 235 and len(set(names)) == 235
    assert "proj-229" in names and "old-news" not in names  # archived channels are left out
    assert len(await chat.list_channels(limit=210)) == 210


async def test_lookup_user_by_email(chat: ChatConnector) -> None:
    user = await chat.lookup_user("Marco.Rossi@northwind.example")
    assert user is not None
    assert user["id"] == "U05MROSSI01" and user["real_name"] == "Marco Rossi"
    assert user["email"] == "marco.rossi@northwind.example" and user["mention"] == "<@U05MROSSI01>"
    assert user["title"] == "Support Agent" and user["is_bot"] is False
    assert await chat.lookup_user("ann.nobody@example.com") is None  # users_not_found is "nobody"


async def test_channel_history_newest_first_with_names(chat: ChatConnector) -> None:
    history = await chat.channel_history("#billing")
    assert history["channel"] == {"id": BILLING, "name": "billing"}
    messages = history["messages"]
    assert [m["user_name"] for m in messages] == ["Priya Shah", "Marco Rossi"]  # replies stay in threads
    assert float(messages[0]["ts"]) > float(messages[1]["ts"])
    assert "double-charge" in messages[0]["text"] and messages[0]["reply_count"] == 1
    assert messages[0]["thread_ts"] == messages[0]["ts"]
    by_id = await chat.channel_history(SUPPORT, limit=1)
    assert len(by_id["messages"]) == 1 and "NW-45530" in by_id["messages"][0]["text"]


async def test_channel_history_where_the_bot_is_not_a_member(chat: ChatConnector) -> None:
    with pytest.raises(SlackError) as err:
        await chat.channel_history("random")
    assert err.value.code == "not_in_channel"
    assert "invite" in str(err.value)


# --- writes ----------------------------------------------------------------------------


async def test_post_message_to_a_channel_by_name(chat: ChatConnector, chat_sim: Sim) -> None:
    result = await chat.post_message(
        "#billing", "Refund ARN for NW-45530 is 74839201", idempotency_key="act-1"
    )
    assert result["channel"] == BILLING and result["channel_name"] == "billing"
    assert result["deduplicated"] is False and result["thread_ts"] is None
    # read back as Slack shows it: newest first, posted by the bot, metadata only on request
    plain = slack(chat_sim, "conversations.history", channel=BILLING, limit=1)["messages"][0]
    assert plain["ts"] == result["ts"] and plain["text"] == "Refund ARN for NW-45530 is 74839201"
    assert plain["bot_id"] == BOT_ID and plain["user"] == BOT_USER_ID
    assert "metadata" not in plain
    full = slack(chat_sim, "conversations.history", channel=BILLING, limit=1, include_all_metadata="true")
    assert full["messages"][0]["metadata"] == {
        "event_type": "switchboard_action",
        "event_payload": {"action_id": "act-1"},
    }
    # the permalink respects the mount prefix and opens
    assert result["permalink"].startswith(f"{chat_sim.url}/archives/{BILLING}/p")
    page = chat_sim.http.get(result["permalink"])
    assert page.status_code == 200 and "74839201" in page.text


async def test_post_message_by_id_and_in_a_thread(chat: ChatConnector, chat_sim: Sim) -> None:
    parent = (await chat.channel_history(SUPPORT, limit=5))["messages"][-1]
    assert parent["reply_count"] == 2
    result = await chat.post_message(SUPPORT, "Fix ships in 4.12.1", thread_ts=parent["thread_ts"])
    assert result["thread_ts"] == parent["ts"]
    thread = slack(chat_sim, "conversations.replies", channel=SUPPORT, ts=parent["ts"])["messages"]
    assert thread[0]["ts"] == parent["ts"] and thread[0]["reply_count"] == 3
    assert thread[-1]["text"] == "Fix ships in 4.12.1" and thread[-1]["parent_user_id"] == "U05ATANAKA1"
    top = [m["ts"] for m in slack(chat_sim, "conversations.history", channel=SUPPORT)["messages"]]
    assert result["ts"] not in top  # a reply is not channel history


async def test_post_message_same_key_twice_posts_once(chat: ChatConnector, chat_sim: Sim) -> None:
    state = chat_state(chat_sim)
    before = len(state.messages[BILLING])
    first = await chat.post_message("billing", "Heads-up: duplicate charge refunded", idempotency_key="act-7")
    again = await chat.post_message(
        "#billing", "Heads-up: duplicate charge refunded", idempotency_key="act-7"
    )
    assert again["deduplicated"] is True and first["deduplicated"] is False
    assert again["ts"] == first["ts"] and again["permalink"] == first["permalink"]
    assert len(state.messages[BILLING]) == before + 1
    other = await chat.post_message(
        "#billing", "Heads-up: duplicate charge refunded", idempotency_key="act-8"
    )
    assert other["deduplicated"] is False and len(state.messages[BILLING]) == before + 2
    without_key = await chat.post_message("#billing", "no key")
    assert without_key["deduplicated"] is False and len(state.messages[BILLING]) == before + 3


async def test_thread_reply_same_key_twice_posts_once(chat: ChatConnector, chat_sim: Sim) -> None:
    parent_ts = slack(chat_sim, "conversations.history", channel=BILLING)["messages"][0]["ts"]
    first = await chat.post_message(
        "#billing", "ARN sent to customer", thread_ts=parent_ts, idempotency_key="a9"
    )
    again = await chat.post_message(
        "#billing", "ARN sent to customer", thread_ts=parent_ts, idempotency_key="a9"
    )
    assert again["deduplicated"] is True and again["ts"] == first["ts"]
    thread = slack(chat_sim, "conversations.replies", channel=BILLING, ts=parent_ts)["messages"]
    assert [m["text"] for m in thread].count("ARN sent to customer") == 1


async def test_post_message_lands_once_across_a_retry_after_a_lost_answer(
    chat_sim: Sim, fake_sleep: FakeSleep
) -> None:
    """The write landed but the answer never came back (the connection dropped): the executor
    retries the approved action with the same key, and the check finds the first post."""
    state = chat_state(chat_sim)
    real = httpx.AsyncHTTPTransport()

    class DropAnswerOfFirstPost(httpx.AsyncBaseTransport):
        dropped = False

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await real.handle_async_request(request)
            if request.url.path.endswith("/chat.postMessage") and not self.dropped:
                self.dropped = True
                await response.aread()
                raise httpx.ReadError("connection reset by peer", request=request)
            return response

    client = build_client(
        chat_sim.url,
        auth=BearerAuth(BOT_TOKEN),
        retry=retry_policy(fake_sleep),
        transport=DropAnswerOfFirstPost(),
    )
    connector = ChatConnector(client)
    before = len(state.messages[BILLING])
    with pytest.raises(ConnectorError) as err:
        await connector.post_message("#billing", "Payout approved", idempotency_key="act-42")
    assert err.value.retryable
    assert len(state.messages[BILLING]) == before + 1  # it did land; the POST was not repeated blindly
    result = await connector.post_message("#billing", "Payout approved", idempotency_key="act-42")
    assert result["deduplicated"] is True
    assert len(state.messages[BILLING]) == before + 1
    await connector.aclose()


# --- errors ------------------------------------------------------------------------------


async def test_ok_false_becomes_a_connector_error_with_the_code(chat: ChatConnector) -> None:
    with pytest.raises(SlackError) as err:
        await chat.post_message("C0NOPE00000", "hello")  # an id Slack does not know: ok:false
    assert err.value.code == "channel_not_found" and "channel_not_found" in str(err.value)
    assert isinstance(err.value, ConnectorError) and not err.value.retryable
    with pytest.raises(SlackError) as err:
        await chat.post_message("#random", "hello")
    assert err.value.code == "not_in_channel"
    with pytest.raises(SlackError) as err:
        await chat.post_message("#no-such-channel", "hello")  # resolved by name first
    assert err.value.code == "channel_not_found" and "#billing" in str(err.value)
    with pytest.raises(ConnectorError, match="empty"):
        await chat.post_message("#billing", "   ")


async def test_bad_token_is_invalid_auth(chat_sim: Sim) -> None:
    connector = ChatConnector(build_client(chat_sim.url, auth=BearerAuth("xoxb-wrong"), timeout=5.0))
    with pytest.raises(SlackError) as err:
        await connector.check()
    assert err.value.code == "invalid_auth" and err.value.status == 401
    await connector.aclose()
    anonymous = ChatConnector(build_client(chat_sim.url, timeout=5.0))
    with pytest.raises(SlackError) as err:
        await anonymous.list_channels()
    assert err.value.code == "not_authed"
    await anonymous.aclose()


async def test_ratelimited_429_is_honoured(chat: ChatConnector, chat_sim: Sim, fake_sleep: FakeSleep) -> None:
    state = chat_state(chat_sim)
    before = len(state.messages[BILLING])
    chat_sim.faults(rate_limit_next=2, retry_after=7, path="chat.postMessage")
    result = await chat.post_message(BILLING, "after the rate limit")
    assert fake_sleep.delays == [7, 7]
    assert result["deduplicated"] is False
    assert len(state.messages[BILLING]) == before + 1
    assert chat_sim.fault_stats()["injected"] == 2


async def test_ratelimited_after_the_last_attempt(chat_sim: Sim, fake_sleep: FakeSleep) -> None:
    connector = ChatConnector(
        build_client(chat_sim.url, auth=BearerAuth(BOT_TOKEN), retry=retry_policy(fake_sleep, max_attempts=2))
    )
    chat_sim.faults(rate_limit_next=5, retry_after=2)
    raw = chat_sim.http.get("/api/auth.test")
    assert raw.status_code == 429 and raw.json() == {"ok": False, "error": "ratelimited"}
    assert raw.headers["retry-after"] == "2"
    with pytest.raises(SlackError) as err:
        await connector.list_channels()
    assert err.value.code == "ratelimited" and err.value.retryable and err.value.status == 429
    assert "retry after 2 s" in str(err.value)
    assert fake_sleep.delays == [2]
    await connector.aclose()


async def test_reads_are_retried_on_5xx_but_a_post_is_not(
    chat: ChatConnector, chat_sim: Sim, fake_sleep: FakeSleep
) -> None:
    """Reads are GETs, safe to repeat; chat.postMessage may have landed, so it is never resent blindly."""
    chat_sim.faults(fail_next=1, status=503)
    assert len(await chat.list_channels()) == 5
    assert len(fake_sleep.delays) == 1
    state = chat_state(chat_sim)
    before = len(state.messages[BILLING])
    chat_sim.faults(fail_next=1, status=503, path="chat.postMessage")
    with pytest.raises(SlackError) as err:
        await chat.post_message(BILLING, "maybe")
    assert err.value.code == "service_unavailable" and err.value.retryable and err.value.status == 503
    assert len(fake_sleep.delays) == 1  # no second attempt
    assert len(state.messages[BILLING]) == before


def test_simulator_speaks_slack(chat_sim: Sim) -> None:
    """Form posts, JSON without a charset (warned), unknown methods, bad cursors."""
    auth = {"Authorization": f"Bearer {BOT_TOKEN}"}
    form = chat_sim.http.post(
        "/api/users.lookupByEmail", data={"email": "aiko.tanaka@northwind.example"}, headers=auth
    )
    assert form.json()["user"]["id"] == "U05ATANAKA1"
    posted = chat_sim.http.post(
        "/api/chat.postMessage",
        content=json.dumps({"channel": "general", "text": "hi"}),
        headers={**auth, "Content-Type": "application/json"},
    ).json()
    assert posted["ok"] is True and posted["warning"] == "missing_charset"
    assert posted["channel"] == "C05GENERAL1" and posted["message"]["text"] == "hi"
    assert chat_sim.http.post("/api/chat.postMessage", json={"channel": "general"}, headers=auth).json() == {
        "ok": False,
        "error": "no_text",
    }
    unknown = chat_sim.http.get("/api/chat.explode", headers=auth)
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_method"
    assert slack(chat_sim, "conversations.list", cursor="bm9wZQ==")["error"] == "invalid_cursor"
    assert (
        slack(chat_sim, "conversations.history", channel="billing")["error"] == "channel_not_found"
    )  # ids only


async def test_simulator_serves_under_the_demo_mount(serve_asgi: Callable[[Any], str]) -> None:
    from starlette.routing import Mount, Router

    outer = Router([Mount("/sim/chat", app=create_app())])
    url = serve_asgi(outer) + "/sim/chat"
    connector = ChatConnector(build_client(url, timeout=5.0))
    result = await connector.post_message("#finance", "Journal entry JE-1042 posted")
    assert result["permalink"].startswith(f"{url}/archives/C05FINANCE1/p")
    await connector.aclose()


# --- tool schemas ---------------------------------------------------------------------------


@pytest.fixture
def tools() -> dict[str, Tool]:
    connector = ChatConnector(httpx.AsyncClient(base_url="https://slack.com"))
    return {t.operation: t for t in tools_for("chat", connector)}


def test_tools_and_schemas(tools: dict[str, Tool]) -> None:
    assert {op: (t.effect, t.idempotency) for op, t in tools.items()} == {
        "list_channels": ("read", "none"),
        "lookup_user": ("read", "none"),
        "channel_history": ("read", "none"),
        "post_message": ("write", "check"),
    }
    for op, tool in tools.items():
        assert tool.name == f"chat__{op}"
        assert tool.input_schema["additionalProperties"] is False
        assert "idempotency_key" not in tool.input_schema["properties"]
        assert len(tool.description) > 40
    post = tools["post_message"]
    assert post.input_schema["required"] == ["channel", "text"]
    assert post.validate({"channel": "#billing", "text": "hi"}) == []
    assert post.validate({"channel": "#billing", "text": "hi", "thread_ts": None}) == []
    assert post.validate({"channel": "#billing"})
    assert post.validate({"channel": "#billing", "text": "hi", "idempotency_key": "x"})
    limit = tools["list_channels"].input_schema["properties"]["limit"]
    assert limit == {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}
    assert tools["channel_history"].validate({"channel": "#billing", "limit": 500})
    assert tools["lookup_user"].input_schema["required"] == ["email"]


# --- request signing -------------------------------------------------------------------------

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_531_420_618


def test_sign_matches_slacks_documented_example() -> None:
    body = (
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    assert (
        sign(body.encode(), SECRET, NOW)
        == "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    )


def test_verify_accepts_a_valid_fresh_request() -> None:
    body = b'{"type":"event_callback","event":{"type":"message","text":"hi"}}'
    signature = sign(body, SECRET, NOW)
    verify(body, str(NOW), signature, SECRET, now=NOW + 299)
    verify(body.decode(), str(NOW), signature, SECRET, now=NOW)  # str bodies are their UTF-8 bytes
    verify_headers(
        body, {"x-slack-request-timestamp": str(NOW), "X-SLACK-SIGNATURE": signature}, SECRET, now=NOW
    )
    assert signed_headers(body, SECRET, NOW) == {
        "X-Slack-Request-Timestamp": str(NOW),
        "X-Slack-Signature": signature,
    }


def test_verify_rejects_a_tampered_body_or_wrong_secret() -> None:
    body = b'{"amount": 100}'
    signature = sign(body, SECRET, NOW)
    with pytest.raises(SignatureError, match="does not match"):
        verify(b'{"amount": 900}', str(NOW), signature, SECRET, now=NOW)
    with pytest.raises(SignatureError, match="does not match"):
        verify(body, str(NOW), signature, "another-secret", now=NOW)
    with pytest.raises(SignatureError, match="does not match"):
        verify(body, str(NOW + 1), signature, SECRET, now=NOW)  # the timestamp is signed too
    with pytest.raises(SignatureError, match="version"):
        verify(body, str(NOW), signature.replace("v0=", "v1="), SECRET, now=NOW)


def test_verify_rejects_stale_and_future_timestamps() -> None:
    body = b"payload=1"
    signature = sign(body, SECRET, NOW)
    with pytest.raises(SignatureError, match="301 s old"):
        verify(body, str(NOW), signature, SECRET, now=NOW + 301)
    with pytest.raises(SignatureError, match="future"):
        verify(body, str(NOW), signature, SECRET, now=NOW - 400)
    verify(body, str(NOW), signature, SECRET, tolerance=3600, now=NOW + 1000)
    with pytest.raises(SignatureError, match="not a Unix timestamp"):
        verify(body, "yesterday", signature, SECRET, now=NOW)


def test_verify_rejects_missing_headers_and_secret() -> None:
    body = b"payload=1"
    signature = sign(body, SECRET, NOW)
    with pytest.raises(SignatureError, match="missing X-Slack-Request-Timestamp"):
        verify(body, None, signature, SECRET, now=NOW)
    with pytest.raises(SignatureError, match="missing X-Slack-Signature"):
        verify(body, str(NOW), "", SECRET, now=NOW)
    with pytest.raises(SignatureError, match="missing X-Slack-Signature"):
        verify_headers(body, {"X-Slack-Request-Timestamp": str(NOW)}, SECRET, now=NOW)
    with pytest.raises(SignatureError, match="no signing secret"):
        verify(body, str(NOW), signature, "", now=NOW)
