"""The issue-tracker connector, speaking Linear's GraphQL API.

`base_url` is the API host (`https://api.linear.app`, or the demo's
`http://127.0.0.1:8000/sim/tracker`); every call is `POST /graphql` (config
`graphql_path` to change it). Auth: a personal API key goes bare in the
Authorization header (`ApiKeyAuth(key, header="Authorization")`), an OAuth token
as `BearerAuth(token)`.

GraphQL failures arrive as an `errors` array, often with HTTP 200; `connectors.graphql`
turns them into a ConnectorError naming Linear's message, code and path.

Writes are exactly-once without an idempotency header: Linear lets the client choose
a new entity's `id` (a UUID), so the action's key is hashed into a fixed UUID for the
issue or comment. Before writing, the connector looks that id up (check-then-write);
and if two attempts race past the check, Linear refuses the second create because
the id exists, which the connector then reports as the earlier write. Unlike a
marker in the text, this needs no search index and leaves nothing in what people read.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, ClassVar

from pydantic import Field

from connectors.base import Connector, ConnectorError, Message, operation, tried_before
from connectors.graphql import GraphQLRequestError, execute
from connectors.tracker import webhooks
from connectors.webhooks import WebhookEvent

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)

ISSUE_SUMMARY = """
  id identifier title priority priorityLabel url createdAt updatedAt
  description
  state { name type }
  team { key name }
  assignee { name email }
  labels { nodes { name } }
"""

SEARCH_ISSUES = f"""
query SearchIssues($term: String!, $first: Int) {{
  searchIssues(term: $term, first: $first) {{
    totalCount
    nodes {{ {ISSUE_SUMMARY} }}
  }}
}}
"""

# Linear's connections page forward (`first`, `after`, `pageInfo { hasNextPage endCursor }`), at
# most 250 nodes a page and 50 when `first` is not given: every list the connector relies on
# whole is read page by page (`_every`), up to MAX_PAGES.
PAGE = "pageInfo { hasNextPage endCursor }"
MAX_PAGES = 40
COMMENT_FIELDS = "id body url createdAt user { name email }"

GET_ISSUE = f"""
query GetIssue($id: String!) {{
  issue(id: $id) {{
    {ISSUE_SUMMARY}
    creator {{ name email }}
    comments(first: 100) {{
      nodes {{ {COMMENT_FIELDS} }}
      {PAGE}
    }}
  }}
}}
"""

ISSUE_COMMENTS = f"""
query IssueComments($id: String!, $after: String) {{
  issue(id: $id) {{
    comments(first: 100, after: $after) {{
      nodes {{ {COMMENT_FIELDS} }}
      {PAGE}
    }}
  }}
}}
"""

ISSUE_REF = """
query IssueRef($id: String!) {
  issue(id: $id) { id identifier url }
}
"""

# Linear scores a query before running it (a connection multiplies what it holds by `first`) and
# refuses one over 10,000 points: teams are paged 50 at a time with each team's first 50 workflow
# states (a team has a handful), about 3,000 points a page.
LIST_TEAMS = f"""
query Teams($after: String) {{
  teams(first: 50, after: $after) {{
    nodes {{
      id key name description
      states(first: 50) {{ nodes {{ name type }} }}
    }}
    {PAGE}
  }}
}}
"""

LIST_LABELS = f"""
query Labels($after: String) {{
  issueLabels(first: 250, after: $after) {{
    nodes {{ id name team {{ id }} }}
    {PAGE}
  }}
}}
"""

ISSUE_BY_ID = f"""
query IssueById($id: ID!) {{
  issues(filter: {{ id: {{ eq: $id }} }}, first: 1) {{
    nodes {{ {ISSUE_SUMMARY} }}
  }}
}}
"""

CREATE_ISSUE = f"""
mutation CreateIssue($input: IssueCreateInput!) {{
  issueCreate(input: $input) {{
    success
    issue {{ {ISSUE_SUMMARY} }}
  }}
}}
"""

COMMENT_BY_ID = """
query CommentById($id: ID!) {
  comments(filter: { id: { eq: $id } }, first: 1) {
    nodes { id body url createdAt issue { id identifier } }
  }
}
"""

CREATE_COMMENT = """
mutation CreateComment($input: CommentCreateInput!) {
  commentCreate(input: $input) {
    success
    comment { id body url createdAt issue { id identifier } }
  }
}
"""


def action_uuid(kind: str, key: str) -> str:
    """A fixed UUID (version-4 shaped, as Linear asks) for the entity an action creates."""
    digest = hashlib.sha256(f"switchboard:{kind}:{key}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


class TrackerConnector(Connector):
    """Linear: search and read issues with their comments, list teams, create issues and comment."""

    kind: ClassVar[str] = "tracker"
    description: ClassVar[str] = (
        "Linear issue tracker: search and read issues, teams, create issues, add comments."
    )

    DESCRIPTION_CHARS: ClassVar[int] = 400  # description excerpt in search results

    default_label: ClassVar[str] = "Linear"
    # Linear limits the searchIssues query to 30 calls a minute (developers' docs, Rate limiting).
    operation_limits: ClassVar[dict[str, float]] = {"search_issues": 30}
    # What a data change webhook reports (`type` and `action`), for workflow triggers.
    events: ClassVar[tuple[str, ...]] = webhooks.EVENTS

    @classmethod
    def verify_webhook(
        cls, body: bytes, headers: Mapping[str, str], secret: str, *, method: str = "POST", url: str = ""
    ) -> None:
        """`Linear-Signature`: hex HMAC-SHA256 over the raw body; `webhookTimestamp` in the
        signed body within 60 s."""
        webhooks.check(body, headers, secret)

    @classmethod
    def parse_webhook(cls, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """`Issue.create`, `Comment.update`, ...; known by signed fields, not the delivery header."""
        return webhooks.parse(body)

    async def _gql(
        self, query: str, variables: dict[str, Any] | None = None, *, what: str = ""
    ) -> dict[str, Any]:
        return await execute(
            self.client,
            query,
            variables,
            path=str(self.config.get("graphql_path", "/graphql")),
            system=self.label,
            what=what,
        )

    # --- shaping results for the model ---

    def _summary(self, issue: dict[str, Any], *, full: bool = False) -> dict[str, Any]:
        description = issue.get("description") or ""
        if not full and len(description) > self.DESCRIPTION_CHARS:
            description = description[: self.DESCRIPTION_CHARS].rstrip() + " …"
        out: dict[str, Any] = {
            "id": issue.get("id"),
            "identifier": issue.get("identifier"),
            "title": issue.get("title"),
            "state": (issue.get("state") or {}).get("name"),
            "priority": int(issue.get("priority") or 0),
            "priority_label": issue.get("priorityLabel"),
            "team": (issue.get("team") or {}).get("key"),
            "assignee": (issue.get("assignee") or {}).get("name"),
            "labels": [lb.get("name") for lb in (issue.get("labels") or {}).get("nodes") or []],
            "url": issue.get("url"),
            "created_at": issue.get("createdAt"),
            "updated_at": issue.get("updatedAt"),
            "description": description,
        }
        if full:
            out["creator"] = (issue.get("creator") or {}).get("name")
        return out

    @staticmethod
    def _comment(comment: dict[str, Any]) -> dict[str, Any]:
        user = comment.get("user") or {}
        return {
            "id": comment.get("id"),
            "author": user.get("name"),
            "author_email": user.get("email"),
            "body": comment.get("body"),
            "created_at": comment.get("createdAt"),
            "url": comment.get("url"),
        }

    async def _every(
        self,
        query: str,
        path: tuple[str, ...],
        variables: dict[str, Any] | None = None,
        *,
        what: str,
        first: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Every node of the connection at `path` in `query`'s answer, page after page (`first`:
        a page read already, its connection as answered)."""
        nodes: list[dict[str, Any]] = []
        page, after = first, None
        for _ in range(MAX_PAGES):
            if page is None:
                page = await self._gql(query, {**(variables or {}), "after": after}, what=what)
                for key in path:
                    page = page[key]
            nodes.extend(page.get("nodes") or [])
            info = page.get("pageInfo") or {}
            after = info.get("endCursor")
            if not info.get("hasNextPage") or not after:
                return nodes
            page = None
        raise ConnectorError(f"{what}: more than {MAX_PAGES} pages; narrow the request")

    async def _teams_and_labels(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        teams = await self._every(LIST_TEAMS, ("teams",), what="listing teams")
        labels = await self._every(LIST_LABELS, ("issueLabels",), what="listing labels")
        return teams, labels

    @staticmethod
    def _labels_for(team_id: str, labels: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A team can use its own labels and the workspace's (team: null)."""
        return [lb for lb in labels if (lb.get("team") or {}).get("id") in (None, team_id)]

    # --- reads ---

    @operation(effect="read")
    async def search_issues(
        self, query: str, first: Annotated[int, Field(ge=1, le=50)] = 10
    ) -> list[dict[str, Any]]:
        """Full-text search over issue titles and descriptions (an identifier like ENG-12 also works);
        best matches first, each with state, priority, team, assignee, labels, url and a description excerpt."""
        if not query.strip():
            raise ConnectorError("the search query is empty")
        await self.limit("search_issues")
        data = await self._gql(
            SEARCH_ISSUES, {"term": query.strip(), "first": first}, what=f"search {query!r}"
        )
        return [self._summary(node) for node in data["searchIssues"]["nodes"]]

    @operation(effect="read")
    async def get_issue(self, issue_id: str) -> dict[str, Any]:
        """Fetch one issue by identifier (e.g. "ENG-12") or id: full description, state, priority,
        labels, assignee, creator, url and its comments oldest first."""
        ref = issue_id.strip()
        data = await self._gql(GET_ISSUE, {"id": ref}, what=f"issue {ref}")
        issue = data["issue"]
        out = self._summary(issue, full=True)
        comments = await self._every(
            ISSUE_COMMENTS,
            ("issue", "comments"),
            {"id": ref},
            what=f"comments of issue {ref}",
            first=issue.get("comments") or {},
        )
        out["comments"] = [self._comment(c) for c in comments]
        return out

    @operation(effect="read")
    async def list_teams(self) -> list[dict[str, Any]]:
        """List the teams issues can be filed in: id, key (the prefix of identifiers like ENG-12),
        name, description, workflow state names and the labels the team can use."""
        teams, labels = await self._teams_and_labels()
        return [
            {
                "id": t.get("id"),
                "key": t.get("key"),
                "name": t.get("name"),
                "description": t.get("description"),
                "states": [s.get("name") for s in (t.get("states") or {}).get("nodes") or []],
                "labels": sorted(lb["name"] for lb in self._labels_for(t["id"], labels)),
            }
            for t in teams
        ]

    # --- writes ---

    # The title and the (rendered Markdown) description are read, and their links clicked, by the team.
    @operation(
        effect="write",
        idempotency="check",
        reversible=True,
        tags=("issue",),
        message=Message("team", ("title", "description")),
    )
    async def create_issue(
        self,
        team_id: str,
        title: str,
        description: str | None = None,
        priority: Annotated[int, Field(ge=0, le=4)] | None = None,
        labels: list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """File a new issue in a team (team_id: the team's id, or its key like "ENG" or name). priority:
        0 none, 1 urgent, 2 high, 3 medium, 4 low. labels: names from list_teams (Markdown description)."""
        if not title.strip():
            raise ConnectorError("the issue title is empty")
        if priority is not None and not 0 <= priority <= 4:
            raise ConnectorError(
                f"priority must be 0-4 (0 none, 1 urgent, 2 high, 3 medium, 4 low), not {priority}"
            )
        teams, all_labels = await self._teams_and_labels()
        team = self._find_team(team_id, teams)
        label_ids = self._label_ids(team, labels or [], all_labels)
        new_id = action_uuid("issue", idempotency_key) if idempotency_key else None
        if new_id and tried_before():
            earlier = await self._issue_by_id(new_id)
            if earlier is not None:
                return {**self._summary(earlier), "deduplicated": True}
        issue_input: dict[str, Any] = {"teamId": team["id"], "title": title.strip()}
        if new_id:
            issue_input["id"] = new_id
        if description:
            issue_input["description"] = description
        if priority is not None:
            issue_input["priority"] = priority
        if label_ids:
            issue_input["labelIds"] = label_ids
        try:
            data = await self._gql(CREATE_ISSUE, {"input": issue_input}, what=f"new issue in {team['key']}")
        except GraphQLRequestError:
            if new_id and (earlier := await self._issue_by_id(new_id)) is not None:
                return {**self._summary(earlier), "deduplicated": True}  # a racing attempt won
            raise
        payload = data["issueCreate"]
        if not payload.get("success") or not payload.get("issue"):
            raise ConnectorError(f"{self.label} did not create the issue (success: {payload.get('success')})")
        return {**self._summary(payload["issue"]), "deduplicated": False}

    @operation(effect="write", idempotency="check", message=Message("team"))
    async def add_comment(
        self, issue_id: str, body: str, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Comment on an issue (identifier like "ENG-12" or id); Markdown is rendered. Everyone
        following the issue is notified."""
        if not body.strip():
            raise ConnectorError("the comment body is empty")
        ref = issue_id.strip()
        issue = (await self._gql(ISSUE_REF, {"id": ref}, what=f"issue {ref}"))["issue"]
        new_id = action_uuid("comment", idempotency_key) if idempotency_key else None
        if new_id and tried_before():
            earlier = await self._comment_by_id(new_id)
            if earlier is not None:
                return self._comment_result(issue, earlier, deduplicated=True)
        comment_input: dict[str, Any] = {"issueId": issue["id"], "body": body}
        if new_id:
            comment_input["id"] = new_id
        try:
            data = await self._gql(
                CREATE_COMMENT, {"input": comment_input}, what=f"issue {issue['identifier']}"
            )
        except GraphQLRequestError:
            if new_id and (earlier := await self._comment_by_id(new_id)) is not None:
                return self._comment_result(issue, earlier, deduplicated=True)
            raise
        payload = data["commentCreate"]
        if not payload.get("success"):
            raise ConnectorError(f"{self.label} did not add the comment (success: {payload.get('success')})")
        return self._comment_result(issue, payload["comment"], deduplicated=False)

    @staticmethod
    def _comment_result(
        issue: dict[str, Any], comment: dict[str, Any], *, deduplicated: bool
    ) -> dict[str, Any]:
        return {
            "issue_id": issue["id"],
            "issue": issue["identifier"],
            "comment_id": comment.get("id"),
            "url": comment.get("url"),
            "deduplicated": deduplicated,
        }

    async def _issue_by_id(self, issue_uuid: str) -> dict[str, Any] | None:
        nodes = (await self._gql(ISSUE_BY_ID, {"id": issue_uuid}, what="checking for an earlier create"))[
            "issues"
        ]["nodes"]
        return nodes[0] if nodes else None

    async def _comment_by_id(self, comment_uuid: str) -> dict[str, Any] | None:
        data = await self._gql(COMMENT_BY_ID, {"id": comment_uuid}, what="checking for an earlier comment")
        nodes = data["comments"]["nodes"]
        return nodes[0] if nodes else None

    def _find_team(self, ref: str, teams: list[dict[str, Any]]) -> dict[str, Any]:
        wanted = ref.strip()
        for team in teams:
            if team.get("id") == wanted:
                return team
        for team in teams:
            if wanted.lower() in (str(team.get("key", "")).lower(), str(team.get("name", "")).lower()):
                return team
        known = ", ".join(f"{t.get('key')} ({t.get('name')})" for t in teams)
        raise ConnectorError(f"{self.label} has no team {ref!r}; known teams: {known or 'none'}")

    def _label_ids(
        self, team: dict[str, Any], names: list[str], all_labels: list[dict[str, Any]]
    ) -> list[str]:
        usable = self._labels_for(team["id"], all_labels)
        by_name = {str(lb["name"]).lower(): lb["id"] for lb in usable}
        ids, unknown = [], []
        for name in names:
            label_id = by_name.get(name.strip().lower())
            if label_id is None and _UUID.match(name.strip()):
                label_id = next((lb["id"] for lb in usable if lb["id"] == name.strip()), None)
            if label_id is None:
                unknown.append(name)
            elif label_id not in ids:
                ids.append(label_id)
        if unknown:
            available = ", ".join(sorted(str(lb["name"]) for lb in usable))
            raise ConnectorError(
                f"unknown label(s) for team {team.get('key')}: {', '.join(unknown)}; available: {available}"
            )
        return ids

    def live_checks(self) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
        return [
            ("check", self.check),
            ("list_teams", self.list_teams),
            ("search_issues", lambda: self.search_issues("switchboard", first=1)),
        ]

    async def check(self) -> dict[str, Any]:
        """viewer: proves the URL and key work, and says which user we act as."""
        data = await self._gql("query { viewer { id name email } organization { name urlKey } }")
        return {"ok": True, "user": data["viewer"], "organization": data["organization"]}
