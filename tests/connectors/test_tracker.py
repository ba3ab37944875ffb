"""The tracker connector against its Linear GraphQL simulator over real loopback HTTP, and the
shared GraphQL helper.

Every operation is exercised; writes are read back with plain GraphQL queries the way
Linear would show them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from connectors.base import ConnectorError
from connectors.graphql import GraphQLRequestError, describe_error, execute
from connectors.http import NO_RETRY, ApiKeyAuth, BearerAuth, build_client
from connectors.tracker.client import TrackerConnector, action_uuid
from connectors.tracker.seed import API_KEY, ISSUES
from connectors.tracker.simulator import TrackerState, create_app
from tests.connectors.conftest import FakeSleep, Sim, retry_policy
from tools.base import Tool
from tools.from_connector import tools_for

OAUTH_TOKEN = "lin_oauth_demo_token"


@pytest.fixture
def tracker_sim(make_sim: Callable[..., Sim]) -> Sim:
    return make_sim(app=create_app(api_keys=[API_KEY], oauth_tokens=[OAUTH_TOKEN]))


def tracker_state(sim: Sim) -> TrackerState:
    state: TrackerState = sim.app.state.tracker
    return state


@pytest.fixture
async def tracker(tracker_sim: Sim, fake_sleep: FakeSleep) -> AsyncIterator[TrackerConnector]:
    client = build_client(
        tracker_sim.url,
        auth=ApiKeyAuth(API_KEY, header="Authorization"),  # Linear's personal keys go bare
        retry=retry_policy(fake_sleep),
        timeout=5.0,
    )
    connector = TrackerConnector(client)
    yield connector
    await connector.aclose()


def gql(sim: Sim, query: str, variables: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """A plain GraphQL request, to read back what a write did."""
    response = sim.http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers={"Authorization": API_KEY}
    )
    body: dict[str, Any] = response.json()
    return response.status_code, body


READ_BACK = """
query ($id: String!) {
  issue(id: $id) {
    id identifier title description priority priorityLabel url
    state { name } team { key } creator { email } labels { nodes { name } }
    comments { nodes { id body user { name } } }
  }
}
"""


# --- reads -------------------------------------------------------------------------------


async def test_check_names_the_viewer(tracker: TrackerConnector) -> None:
    result = await tracker.check()
    assert result["ok"] is True
    assert result["user"]["email"] == "switchboard@northwind.example"
    assert result["organization"] == {"name": "Northwind", "urlKey": "northwind"}


async def test_list_teams_with_states_and_labels(tracker: TrackerConnector) -> None:
    teams = {t["key"]: t for t in await tracker.list_teams()}
    assert set(teams) == {"ENG", "SUP"}
    assert teams["ENG"]["name"] == "Engineering"
    assert teams["ENG"]["states"][:3] == ["Backlog", "Todo", "In Progress"]
    assert {"Bug", "Feature", "Mobile"} <= set(teams["ENG"]["labels"])  # workspace + team labels
    assert "Mobile" not in teams["SUP"]["labels"] and "Billing" in teams["SUP"]["labels"]


async def test_search_issues(tracker: TrackerConnector) -> None:
    login = await tracker.search_issues("login password reset")
    assert login[0]["identifier"] == "ENG-2218"
    assert login[0]["priority"] == 1 and login[0]["priority_label"] == "Urgent"
    assert (
        login[0]["state"] == "Todo" and login[0]["team"] == "ENG" and login[0]["labels"] == ["Bug", "Backend"]
    )
    export = await tracker.search_issues("export order history CSV")
    assert export[0]["identifier"] == "ENG-2240" and export[0]["title"] == "Export order history as CSV"
    assert [i["identifier"] for i in await tracker.search_issues("eng-2231")] == ["ENG-2231"]
    assert len(await tracker.search_issues("customer", first=2)) == 2
    assert await tracker.search_issues("zebra crossing") == []
    with pytest.raises(ConnectorError, match="empty"):
        await tracker.search_issues("  ")


async def test_get_issue_by_identifier_or_id_with_comments(
    tracker: TrackerConnector, tracker_sim: Sim
) -> None:
    issue = await tracker.get_issue("ENG-2231")
    seeded = next(i for i in ISSUES if i.number == 2231)
    assert issue["title"] == seeded.title and issue["description"] == seeded.description
    assert issue["assignee"] == "Noah Kim" and issue["creator"] == "Aiko Tanaka"
    assert [c["author"] for c in issue["comments"]] == ["Noah Kim", "Noah Kim"]  # oldest first
    assert "delivered_at" in issue["comments"][0]["body"]
    assert (
        issue["url"]
        == f"{tracker_sim.url}/northwind/issue/ENG-2231/ios-app-crashes-when-opening-order-history"
    )
    page = tracker_sim.http.get(issue["url"], headers={"Authorization": API_KEY})
    assert page.status_code == 200 and "iOS app crashes" in page.text
    same = await tracker.get_issue(issue["id"])
    assert same["identifier"] == "ENG-2231"
    assert (await tracker.get_issue("eng-2231"))["id"] == issue["id"]


# --- writes ----------------------------------------------------------------------------


async def test_create_issue_reads_back(tracker: TrackerConnector, tracker_sim: Sim) -> None:
    created = await tracker.create_issue(
        "ENG",
        "Refund webhook times out for amounts over $1,000",
        description="Seen for order NW-48102.\n\n- step 1\n- step 2",
        priority=2,
        labels=["bug", "Backend"],
        idempotency_key="act-100",
    )
    assert created["identifier"] == "ENG-2241" and created["deduplicated"] is False
    assert created["id"] == action_uuid("issue", "act-100")
    status, body = gql(tracker_sim, READ_BACK, {"id": "ENG-2241"})
    assert status == 200 and "errors" not in body
    issue = body["data"]["issue"]
    assert issue["title"] == "Refund webhook times out for amounts over $1,000"
    assert issue["description"] == "Seen for order NW-48102.\n\n- step 1\n- step 2"
    assert issue["priority"] == 2 and issue["priorityLabel"] == "High"
    assert issue["state"]["name"] == "Backlog" and issue["team"]["key"] == "ENG"
    assert [lb["name"] for lb in issue["labels"]["nodes"]] == ["Bug", "Backend"]
    assert issue["creator"]["email"] == "switchboard@northwind.example"
    assert issue["url"] == created["url"] and created["url"].startswith(tracker_sim.url)


async def test_create_issue_by_team_id_or_name_and_minimal(tracker: TrackerConnector) -> None:
    teams = {t["key"]: t for t in await tracker.list_teams()}
    by_id = await tracker.create_issue(teams["SUP"]["id"], "Macro for customs delays")
    assert by_id["identifier"] == "SUP-144" and by_id["priority"] == 0 and by_id["labels"] == []
    by_name = await tracker.create_issue("support", "Update refund macro", priority=4)
    assert by_name["identifier"] == "SUP-145" and by_name["priority_label"] == "Low"


async def test_create_issue_rejects_unknown_team_and_labels(
    tracker: TrackerConnector, tracker_sim: Sim
) -> None:
    before = len(tracker_state(tracker_sim).issues)
    with pytest.raises(ConnectorError, match=r"no team 'OPS'.*ENG \(Engineering\)"):
        await tracker.create_issue("OPS", "x")
    with pytest.raises(ConnectorError, match=r"unknown label.*Mobile.*available: Billing"):
        await tracker.create_issue("SUP", "x", labels=["Mobile"])  # an ENG label
    assert len(tracker_state(tracker_sim).issues) == before


async def test_add_comment_reads_back(tracker: TrackerConnector, tracker_sim: Sim) -> None:
    result = await tracker.add_comment(
        "ENG-2218", "Customer confirms it works after the fix.", idempotency_key="c-1"
    )
    assert result["issue"] == "ENG-2218" and result["deduplicated"] is False
    assert result["url"].startswith(f"{tracker_sim.url}/northwind/issue/ENG-2218/")
    _, body = gql(tracker_sim, READ_BACK, {"id": "ENG-2218"})
    comments = body["data"]["issue"]["comments"]["nodes"]
    assert comments[-1] == {
        "id": action_uuid("comment", "c-1"),
        "body": "Customer confirms it works after the fix.",
        "user": {"name": "Switchboard"},
    }


async def test_create_issue_same_key_twice_creates_once(tracker: TrackerConnector, tracker_sim: Sim) -> None:
    state = tracker_state(tracker_sim)
    before = len(state.issues)
    first = await tracker.create_issue("ENG", "Export invoices as PDF", priority=3, idempotency_key="act-5")
    again = await tracker.create_issue("ENG", "Export invoices as PDF", priority=3, idempotency_key="act-5")
    assert again["deduplicated"] is True and again["identifier"] == first["identifier"]
    assert len(state.issues) == before + 1
    other = await tracker.create_issue("ENG", "Export invoices as PDF", priority=3, idempotency_key="act-6")
    assert other["identifier"] != first["identifier"] and len(state.issues) == before + 2


async def test_add_comment_same_key_twice_comments_once(tracker: TrackerConnector, tracker_sim: Sim) -> None:
    state = tracker_state(tracker_sim)
    before = len(state.comments)
    first = await tracker.add_comment(
        "SUP-141", "ARN 74839201 sent to the customer.", idempotency_key="act-9"
    )
    again = await tracker.add_comment(
        "SUP-141", "ARN 74839201 sent to the customer.", idempotency_key="act-9"
    )
    assert again["deduplicated"] is True and again["comment_id"] == first["comment_id"]
    assert len(state.comments) == before + 1


async def test_create_issue_race_past_the_check_still_creates_once(
    tracker: TrackerConnector, tracker_sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two attempts both pass the check; Linear refuses the second create (the id exists),
    and the connector reports the first one's issue instead of failing."""
    state = tracker_state(tracker_sim)
    eng = state.team("ENG")["id"]
    state.create_issue(
        {"id": action_uuid("issue", "act-race"), "teamId": eng, "title": "Racing issue"},
        creator_id=state.viewer_id,
    )
    before = len(state.issues)
    real_check = tracker._issue_by_id
    calls = []

    async def stale_first_check(issue_uuid: str) -> dict[str, Any] | None:
        calls.append(issue_uuid)
        return None if len(calls) == 1 else await real_check(issue_uuid)

    monkeypatch.setattr(tracker, "_issue_by_id", stale_first_check)
    result = await tracker.create_issue("ENG", "Racing issue", idempotency_key="act-race")
    assert result["deduplicated"] is True and result["title"] == "Racing issue"
    assert len(calls) == 2 and len(state.issues) == before


# --- errors --------------------------------------------------------------------------------


async def test_unknown_issue_is_a_graphql_error_with_linears_message(tracker: TrackerConnector) -> None:
    with pytest.raises(GraphQLRequestError) as err:
        await tracker.get_issue("ENG-9999")
    message = str(err.value)
    assert "Entity not found: Issue" in message and "Could not find referenced Issue." in message
    assert "[ENTITY_NOT_FOUND]" in message and "at issue" in message and "ENG-9999" in message
    assert err.value.codes == ["ENTITY_NOT_FOUND"] and err.value.errors[0]["path"] == ["issue"]
    assert isinstance(err.value, ConnectorError) and not err.value.retryable
    with pytest.raises(ConnectorError, match="Entity not found: Issue"):
        await tracker.add_comment("SUP-999", "hello")


async def test_syntax_and_validation_errors_are_surfaced(tracker_sim: Sim) -> None:
    async with build_client(tracker_sim.url, auth=ApiKeyAuth(API_KEY, header="Authorization")) as client:
        with pytest.raises(GraphQLRequestError) as err:
            await execute(client, 'query { issue(id: "ENG-1") { id ', system="Linear")
        assert err.value.status == 400 and err.value.codes == ["GRAPHQL_PARSE_FAILED"]
        assert "Syntax Error" in str(err.value) and "line 1, column" in str(err.value)
        with pytest.raises(GraphQLRequestError) as err:
            await execute(client, 'query { issue(id: "ENG-2231") { idd } }', system="Linear")
        assert "Cannot query field 'idd' on type 'Issue'" in str(err.value)
        assert err.value.codes == ["GRAPHQL_VALIDATION_FAILED"]
        with pytest.raises(GraphQLRequestError) as err:
            await execute(client, "query ($id: String!) { issue(id: $id) { id } }", {}, system="Linear")
        assert "$id" in str(err.value) and err.value.status == 400
    # a bad value that passes the schema is refused by Linear's input validation
    eng = tracker_state(tracker_sim).team("ENG")["id"]
    status, body = gql(
        tracker_sim,
        "mutation ($input: IssueCreateInput!) { issueCreate(input: $input) { success } }",
        {"input": {"teamId": eng, "title": "x", "priority": 7}},
    )
    assert status == 200 and body["data"] is None
    error = body["errors"][0]
    assert error["message"] == "Argument Validation Error" and error["path"] == ["issueCreate"]
    assert error["extensions"]["code"] == "INVALID_INPUT"
    assert error["extensions"]["userPresentableMessage"] == "priority must not be greater than 4."
    status, body = gql(
        tracker_sim,
        "mutation ($input: IssueCreateInput!) { issueCreate(input: $input) { success } }",
        {"input": {"teamId": eng, "title": "x", "id": "not-a-uuid"}},
    )
    assert body["errors"][0]["extensions"]["userPresentableMessage"] == "id must be a UUID."


async def test_credentials_api_key_bare_or_oauth_bearer(tracker_sim: Sim) -> None:
    oauth = TrackerConnector(build_client(tracker_sim.url, auth=BearerAuth(OAUTH_TOKEN), retry=NO_RETRY))
    assert (await oauth.check())["ok"] is True
    await oauth.aclose()
    wrong = TrackerConnector(
        build_client(
            tracker_sim.url, auth=ApiKeyAuth("lin_api_wrong", header="Authorization"), retry=NO_RETRY
        )
    )
    with pytest.raises(GraphQLRequestError) as err:
        await wrong.check()
    assert err.value.status == 401 and err.value.codes == ["AUTHENTICATION_ERROR"]
    assert "check the API key" in str(err.value)
    await wrong.aclose()


async def test_rate_limit_is_honoured(
    tracker: TrackerConnector, tracker_sim: Sim, fake_sleep: FakeSleep
) -> None:
    state = tracker_state(tracker_sim)
    before = len(state.issues)
    tracker_sim.faults(rate_limit_next=2, retry_after=4)
    created = await tracker.create_issue("SUP", "Rate limited but created once", idempotency_key="rl-1")
    assert fake_sleep.delays == [4, 4] and created["deduplicated"] is False
    assert len(state.issues) == before + 1
    body = tracker_sim.faults(rate_limit_next=1)
    assert body["rate_limit_next"] == 1
    raw = tracker_sim.http.post(
        "/graphql", json={"query": "{ viewer { id } }"}, headers={"Authorization": API_KEY}
    )
    assert raw.status_code == 429 and raw.json()["errors"][0]["extensions"]["code"] == "RATELIMITED"


# --- the shared GraphQL helper -------------------------------------------------------------------


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return build_client("https://api.example.com", transport=httpx.MockTransport(handler), retry=NO_RETRY)


async def test_execute_posts_query_and_variables_and_returns_data() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append({"path": request.url.path, "body": json.loads(request.content)})
        return httpx.Response(200, json={"data": {"viewer": {"id": "u1"}}})

    async with _client(handler) as client:
        data = await execute(client, "query Me { viewer { id } }", {"a": 1}, operation_name="Me")
    assert data == {"viewer": {"id": "u1"}}
    assert seen == [
        {
            "path": "/graphql",
            "body": {"query": "query Me { viewer { id } }", "variables": {"a": 1}, "operationName": "Me"},
        }
    ]


async def test_execute_raises_on_errors_even_with_http_200() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "data": {"a": None, "b": 1},
                "errors": [
                    {"message": "boom", "path": ["a", 0, "name"], "extensions": {"code": "RATELIMITED"}},
                    {"message": "second"},
                ],
            },
        )

    async with _client(handler) as client:
        with pytest.raises(GraphQLRequestError) as err:
            await execute(client, "{ a { name } b }", system="Acme", what="thing 7")
    assert (
        str(err.value)
        == "Acme answered with GraphQL errors: boom [RATELIMITED] at a.0.name; second (thing 7)"
    )
    assert err.value.retryable and err.value.codes == ["RATELIMITED"] and len(err.value.errors) == 2


async def test_execute_http_errors_and_non_graphql_answers() -> None:
    answers = iter(
        [
            httpx.Response(502, text="<html>Bad gateway</html>"),
            httpx.Response(200, json={"unexpected": True}),
            httpx.Response(
                400, json={"errors": [{"message": "Bad", "locations": [{"line": 2, "column": 3}]}]}
            ),
        ]
    )
    async with _client(lambda request: next(answers)) as client:
        with pytest.raises(GraphQLRequestError) as err:
            await execute(client, "{ a }")
        assert err.value.status == 502 and err.value.retryable and "Bad gateway" in str(err.value)
        with pytest.raises(GraphQLRequestError, match="without GraphQL data"):
            await execute(client, "{ a }")
        with pytest.raises(GraphQLRequestError) as err:
            await execute(client, "{ a }")
        assert (
            err.value.status == 400
            and not err.value.retryable
            and "Bad at line 2, column 3" in str(err.value)
        )


def test_describe_error_prefers_linears_user_message_once() -> None:
    error = {
        "message": "Entity not found: Team",
        "path": ["issueCreate"],
        "extensions": {
            "code": "ENTITY_NOT_FOUND",
            "userPresentableMessage": "Could not find referenced Team.",
        },
    }
    assert describe_error(error) == (
        "Entity not found: Team (Could not find referenced Team.) [ENTITY_NOT_FOUND] at issueCreate"
    )


# --- tool schemas ----------------------------------------------------------------------------------


@pytest.fixture
def tools() -> dict[str, Tool]:
    connector = TrackerConnector(httpx.AsyncClient(base_url="https://api.linear.app"))
    return {t.operation: t for t in tools_for("tracker", connector)}


def test_tools_and_schemas(tools: dict[str, Tool]) -> None:
    assert {op: (t.effect, t.idempotency) for op, t in tools.items()} == {
        "search_issues": ("read", "none"),
        "get_issue": ("read", "none"),
        "list_teams": ("read", "none"),
        "create_issue": ("write", "check"),
        "add_comment": ("write", "check"),
    }
    for op, tool in tools.items():
        assert tool.name == f"tracker__{op}"
        assert tool.input_schema["additionalProperties"] is False
        assert "idempotency_key" not in tool.input_schema["properties"]
        assert len(tool.description) > 40
    create = tools["create_issue"]
    props = create.input_schema["properties"]
    assert create.input_schema["required"] == ["team_id", "title"]
    assert props["priority"] == {
        "anyOf": [{"type": "integer", "minimum": 0, "maximum": 4}, {"type": "null"}],
        "default": None,
    }
    assert props["labels"]["anyOf"][0] == {"type": "array", "items": {"type": "string"}}
    assert create.validate({"team_id": "ENG", "title": "t", "priority": 4, "labels": ["Bug"]}) == []
    assert create.validate({"team_id": "ENG", "title": "t", "priority": 5})
    assert create.validate({"team_id": "ENG", "title": "t", "priority": -1})
    assert create.validate({"team_id": "ENG", "title": "t", "labels": "Bug"})
    assert create.validate({"team_id": "ENG", "title": "t", "labels": [1]})
    assert tools["add_comment"].input_schema["required"] == ["issue_id", "body"]
    first = tools["search_issues"].input_schema["properties"]["first"]
    assert first == {"type": "integer", "minimum": 1, "maximum": 50, "default": 10}
    assert tools["list_teams"].input_schema["properties"] == {}
    assert tools["get_issue"].validate({"issue_id": "ENG-12"}) == []
