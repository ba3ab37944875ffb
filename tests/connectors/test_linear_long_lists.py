"""Every label, team and comment is read, past the first page of Linear's connections.

Linear's connections page forward (`first`, `after`, `pageInfo { hasNextPage endCursor }`; at
most 250 a page, 50 when `first` is not given: linear/linear `packages/sdk/src/schema.graphql`).
The client read `issueLabels(first: 250)`, `teams(first: 100)` and an issue's
`comments(first: 100)` once: in a workspace with 300 labels a label past the first page was
"unknown" to `create_issue`, and an issue's 130th comment was never shown. Here against the
simulator, which validates every query against Linear's schema and pages as Linear does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from connectors.http import ApiKeyAuth, build_client
from connectors.tracker.client import TrackerConnector
from connectors.tracker.seed import API_KEY
from connectors.tracker.simulator import TrackerState, create_app
from tests.connectors.conftest import FakeSleep, Sim, retry_policy


@pytest.fixture
def sim(make_sim: Callable[..., Sim]) -> Sim:
    return make_sim(app=create_app(api_keys=[API_KEY]))


@pytest.fixture
async def tracker(sim: Sim, fake_sleep: FakeSleep) -> AsyncIterator[TrackerConnector]:
    client = build_client(
        sim.url, auth=ApiKeyAuth(API_KEY, header="Authorization"), retry=retry_policy(fake_sleep), timeout=5.0
    )
    connector = TrackerConnector(client)
    yield connector
    await connector.aclose()


def state_of(sim: Sim) -> TrackerState:
    state: TrackerState = sim.app.state.tracker
    return state


async def test_a_label_past_the_first_page_can_be_used(tracker: TrackerConnector, sim: Sim) -> None:
    state = state_of(sim)
    for i in range(300):
        state.add_label(name=f"area-{i:03d}", color="#888888")
    created = await tracker.create_issue("ENG", "Refunds fail for EU cards", labels=["area-299"])
    assert created["labels"] == ["area-299"]
    [eng] = [t for t in await tracker.list_teams() if t["key"] == "ENG"]
    assert {f"area-{i:03d}" for i in range(300)} <= set(eng["labels"])


async def test_every_comment_of_a_long_thread_is_read_oldest_first(
    tracker: TrackerConnector, sim: Sim
) -> None:
    state = state_of(sim)
    issue = await tracker.get_issue("ENG-2231")
    before = len(issue["comments"])
    for i in range(130):
        state.create_comment(
            {"issueId": issue["id"], "body": f"update {i}"}, user_id=state.viewer_id, at=2e9 + i
        )
    comments = (await tracker.get_issue("ENG-2231"))["comments"]
    assert len(comments) == before + 130
    assert [c["body"] for c in comments[before:]] == [f"update {i}" for i in range(130)]
