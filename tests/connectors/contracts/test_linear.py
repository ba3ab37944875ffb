"""The tracker client's requests against Linear's GraphQL API (see connectors/tracker/CONTRACT.md)."""

from __future__ import annotations

import json

import httpx

from connectors.tracker.client import TrackerConnector
from tests.connectors.contracts.recorder import Recorder, reply

BASE = "https://api.linear.app"


def linear(request: httpx.Request) -> httpx.Response:
    query = json.loads(request.content)["query"]
    assert "searchIssues(term: $term, first: $first)" in query  # schema.graphql: Query.searchIssues
    return reply(200, {"data": {"searchIssues": {"nodes": []}}})


async def test_search_issues_keeps_to_thirty_calls_a_minute() -> None:
    """Linear's rate-limiting docs: searchIssues is limited to 30 requests a minute."""
    now = [0.0]
    sent_at: list[float] = []

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    def handler(request: httpx.Request) -> httpx.Response:
        sent_at.append(now[0])
        return linear(request)

    tracker = TrackerConnector(Recorder(handler).client(BASE))
    tracker.limit_clock = lambda: now[0]
    tracker.limit_sleep = sleep
    for _ in range(45):
        await tracker.search_issues("refund")
    for i, start in enumerate(sent_at):
        window = [t for t in sent_at[i:] if t < start + 60]
        assert len(window) <= 30, f"{len(window)} searches within a minute from t={start}"
    await tracker.aclose()
