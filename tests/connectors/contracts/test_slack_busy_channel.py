"""A Slack post whose answer was lost is posted once, however busy the channel got before the retry.

An approved chat.postMessage carries the action id in its message metadata, and a retry (a
resumed executing action, or a person's retry from needs_attention) looks for it before posting
again: it reads the channel's history back to the first attempt, page by page, so an earlier post
pushed off the first page by 20 later messages is found.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from connectors.base import ConnectorError, first_attempt, proposed_at
from connectors.chat.client import ChatConnector
from connectors.chat.seed import BOT_TOKEN
from connectors.chat.simulator import ChatState, create_app
from connectors.http import BearerAuth, build_client
from tests.connectors.conftest import FakeSleep, Sim, retry_policy

BILLING = "C05BILLING1"


@pytest.fixture
def chat_sim(make_sim: Callable[..., Sim]) -> Sim:
    return make_sim(app=create_app(tokens=[BOT_TOKEN]))


class DropAnswerOfFirstPost(httpx.AsyncBaseTransport):
    """The first chat.postMessage reaches Slack and is applied; its answer is lost (reset)."""

    def __init__(self) -> None:
        self.real = httpx.AsyncHTTPTransport()
        self.dropped = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.real.handle_async_request(request)
        if request.url.path.endswith("/chat.postMessage") and not self.dropped:
            self.dropped = True
            await response.aread()
            raise httpx.ReadError("connection reset by peer", request=request)
        return response

    async def aclose(self) -> None:
        await self.real.aclose()


async def test_retry_after_lost_answer_in_a_busy_channel_posts_once(
    chat_sim: Sim, fake_sleep: FakeSleep
) -> None:
    state: ChatState = chat_sim.app.state.chat
    people = sorted(set(state.members[BILLING]) - {u for u, x in state.users.items() if x.get("is_bot")})
    assert people, "the seeded #billing has people in it"
    client = build_client(
        chat_sim.url,
        auth=BearerAuth(BOT_TOKEN),
        retry=retry_policy(fake_sleep),
        transport=DropAnswerOfFirstPost(),
    )
    chat = ChatConnector(client)
    key = "act-busy-1"
    first_tried = time.time()
    try:
        # Attempt 1 (what RunContext._execute sets up): the post lands, the answer is lost.
        with first_attempt(), proposed_at(first_tried), pytest.raises(ConnectorError) as err:
            await chat.post_message("#billing", "Refund of $42 approved for order 1042", idempotency_key=key)
        assert err.value.retryable  # the action stays executing and is resumed with the same key

        # Before the retry, the channel carries on: 20 messages from people.
        for n in range(20):
            state.post(BILLING, people[n % len(people)], f"chatter {n}", check=False)

        # Attempt 2: the resumed action, same key, same first-attempt time.
        with proposed_at(first_tried):
            again = await chat.post_message(
                "#billing", "Refund of $42 approved for order 1042", idempotency_key=key
            )
    finally:
        await chat.aclose()

    ours = [
        m
        for m in state.messages[BILLING]
        if ((m.get("metadata") or {}).get("event_payload") or {}).get("action_id") == key
    ]
    assert len(ours) == 1, (
        f"one approved post was made {len(ours)} times in #billing "
        f"(retry said deduplicated={again.get('deduplicated')})"
    )
    assert again["deduplicated"] is True
