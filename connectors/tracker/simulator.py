"""A loopback Linear: a real GraphQL endpoint over the subset of Linear's schema the tracker uses.

`POST /graphql` with `{"query", "variables", "operationName"}` is parsed, validated
and executed by graphql-core against `SCHEMA` (Linear's names and shapes: Issue,
Team, Comment, User, WorkflowState, IssueLabel, `*Connection { nodes pageInfo }`,
`issue(id:)` taking a UUID or an identifier like "ENG-12", `searchIssues(term:)`,
`issueCreate` / `commentCreate` with `*Payload { success ... }`), so a client's
query typo fails here the way it fails against Linear. Errors are GraphQL's
standard `errors` array: parse and validation failures as HTTP 400 with
`extensions.code` GRAPHQL_PARSE_FAILED / GRAPHQL_VALIDATION_FAILED, resolver
failures as HTTP 200 with Linear's `ENTITY_NOT_FOUND` / `INVALID_INPUT` and a
`userPresentableMessage`.

Auth is Linear's: a personal API key sent bare (`Authorization: lin_api_...`) or an
OAuth token as `Bearer ...` (see `LinearAuth`). Faults through `POST /_faults`.

Webhooks as Linear sends them (`connectors.simulator_webhooks`): once a URL is set, each
issue or comment created through the API goes out as a data change event (`Issue` /
`Comment`, action `create`) after the answer, one event a delivery, signed with
`Linear-Signature` over the raw body, which carries `webhookTimestamp`. Control endpoints
(no auth, no faults): POST /_webhook {"url", "secret"}; GET /_webhook; POST
/_webhook/redeliver (the same event again: same `Linear-Delivery`, fresh timestamp).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import html
import json
import random
import re
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from graphql import GraphQLError, build_schema, execute_sync, parse, validate
from starlette.background import BackgroundTask

from connectors.simulator_base import Faults, SimulatorAuth, mount_base, simulator_app
from connectors.simulator_webhooks import CONTROL_PATHS as WEBHOOK_CONTROLS
from connectors.simulator_webhooks import WebhookSender
from connectors.simulator_webhooks import control_router as webhook_router
from connectors.tracker import seed as seed_data
from connectors.tracker import webhooks as linear

SCHEMA_SDL = '''
"""ISO 8601 date-time string."""
scalar DateTime

"""A JSON object."""
scalar JSONObject

type PageInfo {
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
  endCursor: String
}

type Organization {
  id: ID!
  name: String!
  urlKey: String!
}

type User {
  id: ID!
  name: String!
  displayName: String!
  email: String!
  active: Boolean!
  admin: Boolean!
  url: String!
  createdAt: DateTime!
  assignedIssues(first: Int, after: String, filter: IssueFilter): IssueConnection!
}

type UserConnection {
  nodes: [User!]!
  pageInfo: PageInfo!
}

type WorkflowState {
  id: ID!
  name: String!
  """backlog, unstarted, started, completed, canceled or triage."""
  type: String!
  color: String!
  position: Float!
  team: Team!
}

type WorkflowStateConnection {
  nodes: [WorkflowState!]!
  pageInfo: PageInfo!
}

type IssueLabel {
  id: ID!
  name: String!
  color: String!
  description: String
  """Null for a workspace label."""
  team: Team
}

type IssueLabelConnection {
  nodes: [IssueLabel!]!
  pageInfo: PageInfo!
}

type Team {
  id: ID!
  key: String!
  name: String!
  description: String
  private: Boolean!
  createdAt: DateTime!
  updatedAt: DateTime!
  issueCount: Int!
  issues(first: Int, after: String, filter: IssueFilter): IssueConnection!
  members(first: Int, after: String): UserConnection!
  states(first: Int, after: String): WorkflowStateConnection!
  labels(first: Int, after: String): IssueLabelConnection!
}

type TeamConnection {
  nodes: [Team!]!
  pageInfo: PageInfo!
}

type Comment {
  id: ID!
  body: String!
  url: String!
  createdAt: DateTime!
  updatedAt: DateTime!
  editedAt: DateTime
  user: User
  issue: Issue!
  parent: Comment
}

type CommentConnection {
  nodes: [Comment!]!
  pageInfo: PageInfo!
}

type Issue {
  id: ID!
  identifier: String!
  number: Float!
  title: String!
  description: String
  """0 = No priority, 1 = Urgent, 2 = High, 3 = Medium, 4 = Low."""
  priority: Float!
  priorityLabel: String!
  url: String!
  branchName: String!
  createdAt: DateTime!
  updatedAt: DateTime!
  startedAt: DateTime
  completedAt: DateTime
  canceledAt: DateTime
  team: Team!
  state: WorkflowState!
  assignee: User
  creator: User
  labelIds: [String!]!
  labels(first: Int, after: String): IssueLabelConnection!
  comments(first: Int, after: String, filter: CommentFilter): CommentConnection!
}

type IssueConnection {
  nodes: [Issue!]!
  pageInfo: PageInfo!
}

type IssueSearchResult {
  id: ID!
  identifier: String!
  number: Float!
  title: String!
  description: String
  priority: Float!
  priorityLabel: String!
  url: String!
  createdAt: DateTime!
  updatedAt: DateTime!
  team: Team!
  state: WorkflowState!
  assignee: User
  creator: User
  labels(first: Int, after: String): IssueLabelConnection!
  comments(first: Int, after: String, filter: CommentFilter): CommentConnection!
  """Search metadata: the relevance score and which fields matched."""
  metadata: JSONObject!
}

type IssueSearchPayload {
  nodes: [IssueSearchResult!]!
  pageInfo: PageInfo!
  totalCount: Float!
}

input StringComparator {
  eq: String
  neq: String
  in: [String!]
  nin: [String!]
  eqIgnoreCase: String
  neqIgnoreCase: String
  contains: String
  containsIgnoreCase: String
  notContains: String
  notContainsIgnoreCase: String
  startsWith: String
  endsWith: String
}

input NullableStringComparator {
  eq: String
  neq: String
  in: [String!]
  nin: [String!]
  null: Boolean
  eqIgnoreCase: String
  neqIgnoreCase: String
  contains: String
  containsIgnoreCase: String
  notContains: String
  notContainsIgnoreCase: String
  startsWith: String
  endsWith: String
}

input IDComparator {
  eq: ID
  neq: ID
  in: [ID!]
  nin: [ID!]
}

input NumberComparator {
  eq: Float
  neq: Float
  in: [Float!]
  nin: [Float!]
  lt: Float
  lte: Float
  gt: Float
  gte: Float
}

input NullableNumberComparator {
  eq: Float
  neq: Float
  in: [Float!]
  nin: [Float!]
  lt: Float
  lte: Float
  gt: Float
  gte: Float
  null: Boolean
}

input TeamFilter {
  id: IDComparator
  key: StringComparator
  name: StringComparator
  and: [TeamFilter!]
  or: [TeamFilter!]
}

input WorkflowStateFilter {
  id: IDComparator
  name: StringComparator
  type: StringComparator
}

input NullableUserFilter {
  id: IDComparator
  name: StringComparator
  email: StringComparator
  null: Boolean
}

input IssueLabelFilter {
  id: IDComparator
  name: StringComparator
}

input IssueLabelCollectionFilter {
  id: IDComparator
  name: StringComparator
  some: IssueLabelFilter
  every: IssueLabelFilter
}

input IssueFilter {
  id: IDComparator
  number: NumberComparator
  title: StringComparator
  description: NullableStringComparator
  priority: NullableNumberComparator
  team: TeamFilter
  state: WorkflowStateFilter
  assignee: NullableUserFilter
  creator: NullableUserFilter
  labels: IssueLabelCollectionFilter
  and: [IssueFilter!]
  or: [IssueFilter!]
}

input CommentFilter {
  id: IDComparator
  body: StringComparator
}

input IssueCreateInput {
  """The identifier in UUID v4 format. If none is provided, the backend will generate one."""
  id: String
  title: String
  description: String
  teamId: String!
  priority: Int
  labelIds: [String!]
  assigneeId: String
  stateId: String
}

type IssuePayload {
  lastSyncId: Float!
  success: Boolean!
  issue: Issue
}

input CommentCreateInput {
  """The identifier in UUID v4 format. If none is provided, the backend will generate one."""
  id: String
  body: String
  issueId: String
  parentId: String
}

type CommentPayload {
  lastSyncId: Float!
  success: Boolean!
  comment: Comment!
}

type Query {
  viewer: User!
  organization: Organization!
  users(first: Int, after: String): UserConnection!
  teams(first: Int, after: String, filter: TeamFilter): TeamConnection!
  team(id: String!): Team!
  issue(id: String!): Issue!
  issues(first: Int, after: String, filter: IssueFilter): IssueConnection!
  searchIssues(
    term: String!
    first: Int
    after: String
    filter: IssueFilter
    includeComments: Boolean
    teamId: String
  ): IssueSearchPayload!
  comment(id: String!): Comment!
  comments(first: Int, after: String, filter: CommentFilter): CommentConnection!
  issueLabels(first: Int, after: String, filter: IssueLabelFilter): IssueLabelConnection!
}

type Mutation {
  issueCreate(input: IssueCreateInput!): IssuePayload!
  commentCreate(input: CommentCreateInput!): CommentPayload!
}
'''

SCHEMA = build_schema(SCHEMA_SDL)

PRIORITY_LABELS = {0: "No priority", 1: "Urgent", 2: "High", 3: "Medium", 4: "Low"}
DEFAULT_PAGE = 50
MAX_PAGE = 250
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_IDENTIFIER = re.compile(r"^([A-Za-z][A-Za-z0-9]*)-(\d+)$")


# --- Linear's errors -------------------------------------------------------------------


def not_found(entity: str) -> GraphQLError:
    return GraphQLError(
        f"Entity not found: {entity}",
        extensions={
            "type": "invalid input",
            "code": "ENTITY_NOT_FOUND",
            "statusCode": 404,
            "userError": True,
            "userPresentableMessage": f"Could not find referenced {entity}.",
        },
    )


def invalid(prop: str, message: str) -> GraphQLError:
    """Linear's class-validator style failure for one input property."""
    return GraphQLError(
        "Argument Validation Error",
        extensions={
            "type": "invalid input",
            "code": "INVALID_INPUT",
            "statusCode": 400,
            "userError": True,
            "userPresentableMessage": f"{message}.",
            "validationErrors": [{"property": prop, "constraints": {"invalid": message}}],
        },
    )


def linear_error_body(status: int) -> dict[str, Any]:
    """Linear's bodies for injected faults and auth failures."""
    if status == 429:
        code, message, friendly = (
            "RATELIMITED",
            "Rate limit exceeded",
            "Too many requests; try again shortly.",
        )
    elif status == 401:
        code = "AUTHENTICATION_ERROR"
        message = "Authentication required, not authenticated"
        friendly = "You need to authenticate to access this operation."
    elif status >= 500:
        code, message, friendly = "INTERNAL_SERVER_ERROR", "Internal server error", "Something went wrong."
    else:
        code, message, friendly = "BAD_REQUEST", f"Injected error {status}", "The request was refused."
    return {
        "errors": [
            {
                "message": message,
                "extensions": {"code": code, "statusCode": status, "userPresentableMessage": friendly},
            }
        ]
    }


# --- filters ---------------------------------------------------------------------------


def _same(value: Any, text: str, arg: Any) -> bool:
    return text == arg if isinstance(arg, str) else bool(value == arg)


# Linear's comparator operators: (the value, the value as text ("" for null), the argument).
_OPERATORS: dict[str, Callable[[Any, str, Any], bool]] = {
    "eq": _same,
    "neq": lambda value, text, arg: not _same(value, text, arg),
    "in": lambda value, text, arg: value in arg or text in arg,
    "nin": lambda value, text, arg: value not in arg and text not in arg,
    "null": lambda value, text, arg: (value is None) == arg,
    "eqIgnoreCase": lambda value, text, arg: text.lower() == arg.lower(),
    "neqIgnoreCase": lambda value, text, arg: text.lower() != arg.lower(),
    "contains": lambda value, text, arg: value is not None and arg in text,
    "containsIgnoreCase": lambda value, text, arg: value is not None and arg.lower() in text.lower(),
    "notContains": lambda value, text, arg: arg not in text,
    "notContainsIgnoreCase": lambda value, text, arg: arg.lower() not in text.lower(),
    "startsWith": lambda value, text, arg: text.startswith(arg),
    "endsWith": lambda value, text, arg: text.endswith(arg),
    "lt": lambda value, text, arg: value is not None and value < arg,
    "lte": lambda value, text, arg: value is not None and value <= arg,
    "gt": lambda value, text, arg: value is not None and value > arg,
    "gte": lambda value, text, arg: value is not None and value >= arg,
}


def _compare(value: Any, comparator: dict[str, Any] | None) -> bool:
    """Every operator given in a Linear comparator must hold (the schema lets only these through)."""
    text = "" if value is None else str(value)
    for op, arg in (comparator or {}).items():
        if arg is None:
            continue
        check = _OPERATORS.get(op)
        if check is None or not check(value, text, arg):
            return False
    return True


# --- views: dicts whose callables graphql-core's default resolver calls as (info, **args) -----


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def slugify(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60].strip("-")


_STOPWORD_TEXT = (
    "a an and are as at be but by can do for from has have how i if in is it my of on or the this to was "
    "we what when where why with you your"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def _stem(word: str) -> str:
    w = word.lower()
    for suffix in ("ing", "ed", "es", "s"):
        if len(w) > len(suffix) + 2 and w.endswith(suffix):
            return w[: -len(suffix)]
    return w


def _terms(text: str) -> set[str]:
    return {_stem(w) for w in re.findall(r"\w+", text.lower()) if w not in _STOPWORDS}


DEMO_SIGNING_SECRET = "lin_wh_demo_signing_secret"


class TrackerState:
    """Organization, users, teams (workflow states, labels), issues and comments, in memory."""

    def __init__(self, *, clock: Callable[[], datetime] | None = None, seed: int = 7):
        self._lock = threading.RLock()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._rng = random.Random(seed)
        self.organization: dict[str, Any] = {"id": self._uuid(), "name": "Workspace", "urlKey": "workspace"}
        self.users: dict[str, dict[str, Any]] = {}
        self.teams: dict[str, dict[str, Any]] = {}
        self.states: dict[str, dict[str, Any]] = {}
        self.labels: dict[str, dict[str, Any]] = {}
        self.issues: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, dict[str, Any]] = {}
        self.viewer_id: str | None = None
        self.last_sync_id = 1_000_000
        self.webhooks = WebhookSender(self._render, secret=DEMO_SIGNING_SECRET)
        self.webhook_id = self._uuid()
        self._changes: list[tuple[str, str, str]] = []  # (type, action, id) awaiting their event

    def now(self) -> datetime:
        return self._clock()

    def _ts(self) -> float:
        return self.now().timestamp()

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _sync(self) -> int:
        self.last_sync_id += 1
        return self.last_sync_id

    # setup

    def set_organization(self, name: str, url_key: str) -> None:
        with self._lock:
            self.organization.update({"name": name, "urlKey": url_key})

    def add_user(self, *, name: str, display_name: str, email: str, admin: bool = False) -> dict[str, Any]:
        with self._lock:
            user: dict[str, Any] = {
                "id": self._uuid(),
                "name": name,
                "displayName": display_name,
                "email": email,
                "active": True,
                "admin": admin,
                "createdAt": self._ts() - 400 * 86400,
            }
            self.users[user["id"]] = user
            return dict(user)

    def add_team(self, *, key: str, name: str, description: str = "") -> dict[str, Any]:
        with self._lock:
            stamp = self._ts() - 400 * 86400
            team: dict[str, Any] = {
                "id": self._uuid(),
                "key": key.upper(),
                "name": name,
                "description": description,
                "private": False,
                "createdAt": stamp,
                "updatedAt": stamp,
                "next_number": 1,
            }
            self.teams[team["id"]] = team
            return dict(team)

    def add_state(self, team_id: str, *, name: str, type: str, color: str, position: float) -> dict[str, Any]:
        with self._lock:
            record: dict[str, Any] = {
                "id": self._uuid(),
                "name": name,
                "type": type,
                "color": color,
                "position": position,
                "team_id": team_id,
            }
            self.states[record["id"]] = record
            return dict(record)

    def add_label(
        self, *, name: str, color: str, team_id: str | None = None, description: str | None = None
    ) -> dict[str, Any]:
        with self._lock:
            record: dict[str, Any] = {
                "id": self._uuid(),
                "name": name,
                "color": color,
                "description": description,
                "team_id": team_id,
            }
            self.labels[record["id"]] = record
            return dict(record)

    def state_id(self, team_id: str, name: str) -> str:
        with self._lock:
            for record in self.states.values():
                if record["team_id"] == team_id and record["name"].lower() == name.lower():
                    return str(record["id"])
        raise KeyError(name)

    def label_id(self, team_id: str, name: str) -> str:
        with self._lock:
            for record in self.labels.values():
                if record["team_id"] in (None, team_id) and record["name"].lower() == name.lower():
                    return str(record["id"])
        raise KeyError(name)

    # lookups

    def team(self, ref: str) -> dict[str, Any]:
        """By id or key (Linear's `team(id:)` takes either)."""
        with self._lock:
            if ref in self.teams:
                return self.teams[ref]
            for team in self.teams.values():
                if team["key"] == ref.upper():
                    return team
        raise not_found("Team")

    def issue(self, ref: str) -> dict[str, Any]:
        """By UUID or identifier like "ENG-12" (case-insensitive)."""
        with self._lock:
            if ref in self.issues:
                return self.issues[ref]
            match = _IDENTIFIER.match(ref.strip())
            if match:
                key, number = match.group(1).upper(), int(match.group(2))
                for issue in self.issues.values():
                    if issue["number"] == number and self.teams[issue["team_id"]]["key"] == key:
                        return issue
        raise not_found("Issue")

    def comment(self, ref: str) -> dict[str, Any]:
        with self._lock:
            if ref in self.comments:
                return self.comments[ref]
        raise not_found("Comment")

    def identifier(self, issue: dict[str, Any]) -> str:
        return f"{self.teams[issue['team_id']]['key']}-{issue['number']}"

    def issue_comments(self, issue_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return sorted(
                (c for c in self.comments.values() if c["issue_id"] == issue_id), key=lambda c: c["createdAt"]
            )

    # writes

    def _client_id(self, value: Any, existing: dict[str, Any], entity: str) -> str:
        if value is None:
            return self._uuid()
        if not isinstance(value, str) or not _UUID.match(value):
            raise invalid("id", "id must be a UUID")
        if value.lower() in existing:
            raise GraphQLError(
                f"{entity} with this id already exists",
                extensions={
                    "type": "invalid input",
                    "code": "INVALID_INPUT",
                    "statusCode": 400,
                    "userError": True,
                    "userPresentableMessage": f"An {entity.lower()} with id {value} already exists.",
                },
            )
        return value.lower()

    def create_issue(
        self,
        data: dict[str, Any],
        *,
        creator_id: str | None,
        at: float | None = None,
        number: int | None = None,
    ) -> dict[str, Any]:
        """issueCreate: validates like Linear (team, title, priority 0-4, labels of the team or
        the workspace, state of the team) and numbers the issue within its team."""
        with self._lock:
            team_id = data.get("teamId")
            if not isinstance(team_id, str) or team_id not in self.teams:
                raise not_found("Team")
            title = data.get("title")
            if not isinstance(title, str) or not title.strip():
                raise invalid("title", "title should not be empty")
            priority = data.get("priority")
            if priority is None:
                priority = 0
            if priority < 0:
                raise invalid("priority", "priority must not be less than 0")
            if priority > 4:
                raise invalid("priority", "priority must not be greater than 4")
            label_ids = list(dict.fromkeys(data.get("labelIds") or []))
            for label_id in label_ids:
                label = self.labels.get(label_id)
                if label is None:
                    raise not_found("IssueLabel")
                if label["team_id"] not in (None, team_id):
                    raise invalid("labelIds", f"label {label['name']} belongs to another team")
            state_id = data.get("stateId")
            if state_id is None:
                state_id = self.state_id(team_id, "Backlog")
            elif state_id not in self.states or self.states[state_id]["team_id"] != team_id:
                raise not_found("WorkflowState")
            assignee_id = data.get("assigneeId")
            if assignee_id is not None and assignee_id not in self.users:
                raise not_found("User")
            issue_id = self._client_id(data.get("id"), self.issues, "Issue")
            team = self.teams[team_id]
            if number is None:
                number = team["next_number"]
            team["next_number"] = max(team["next_number"], number + 1)
            stamp = self._ts() if at is None else at
            kind = self.states[state_id]["type"]
            issue = {
                "id": issue_id,
                "team_id": team_id,
                "number": number,
                "title": title.strip(),
                "description": data.get("description"),
                "priority": priority,
                "state_id": state_id,
                "assignee_id": assignee_id,
                "creator_id": creator_id,
                "label_ids": label_ids,
                "createdAt": stamp,
                "updatedAt": stamp,
                "startedAt": stamp if kind in ("started", "completed") else None,
                "completedAt": stamp if kind == "completed" else None,
                "canceledAt": stamp if kind == "canceled" else None,
            }
            self.issues[issue_id] = issue
            self._sync()
            self._changed("Issue", "create", issue_id)
            return issue

    def create_comment(
        self, data: dict[str, Any], *, user_id: str | None, at: float | None = None
    ) -> dict[str, Any]:
        with self._lock:
            body = data.get("body")
            if not isinstance(body, str) or not body.strip():
                raise invalid("body", "body should not be empty")
            issue_id = data.get("issueId")
            if not isinstance(issue_id, str) or issue_id not in self.issues:
                raise not_found("Issue")
            parent_id = data.get("parentId")
            if parent_id is not None:
                parent = self.comments.get(parent_id)
                if parent is None or parent["issue_id"] != issue_id:
                    raise not_found("Comment")
            comment_id = self._client_id(data.get("id"), self.comments, "Comment")
            stamp = self._ts() if at is None else at
            comment = {
                "id": comment_id,
                "issue_id": issue_id,
                "body": body,
                "user_id": user_id,
                "parent_id": parent_id,
                "createdAt": stamp,
                "updatedAt": stamp,
            }
            self.comments[comment_id] = comment
            self.issues[issue_id]["updatedAt"] = max(self.issues[issue_id]["updatedAt"], stamp)
            self._sync()
            self._changed("Comment", "create", comment_id)
            return comment

    # webhooks

    def _changed(self, kind: str, action: str, entity_id: str) -> None:
        if self.webhooks.url:
            self._changes.append((kind, action, entity_id))

    def queue_events(self, base: str) -> bool:
        """Turn the changes made since the last call into Linear's data change events, queued
        on the sender; True when there is something to send."""
        with self._lock:
            changes, self._changes = self._changes, []
            views = Views(self, base)
            for kind, action, entity_id in changes:
                record = self.issues[entity_id] if kind == "Issue" else self.comments[entity_id]
                data = views.issue_event(record) if kind == "Issue" else views.comment_event(record)
                actor_id = record.get("creator_id") or record.get("user_id")
                actor = self.users.get(actor_id or "")
                payload = {
                    "action": action,
                    "actor": {
                        "id": actor["id"],
                        "name": actor["name"],
                        "email": actor["email"],
                        "type": "user",
                    }
                    if actor
                    else None,
                    "createdAt": _iso(self._ts()),
                    "data": data,
                    "url": data["url"],
                    "type": kind,
                    "organizationId": self.organization["id"],
                    "webhookId": self.webhook_id,
                }
                self.webhooks.queue({"payload": payload, "delivery": self._uuid()})
        return bool(changes)

    @staticmethod
    def _render(
        events: list[dict[str, Any]], secret: str, url: str, attempt: int
    ) -> tuple[bytes, dict[str, str]]:
        """One delivery as Linear sends it: the event with the send time in its signed body."""
        [event] = events
        stamped = {**event["payload"], linear.TIMESTAMP_FIELD: int(datetime.now(UTC).timestamp() * 1000)}
        body = json.dumps(stamped, separators=(",", ":")).encode()
        return body, linear.signed_headers(body, secret, event=stamped["type"], delivery=event["delivery"])

    # search

    def matches(self, issue: dict[str, Any], spec: dict[str, Any] | None) -> bool:
        """Does `issue` pass an IssueFilter?"""
        if not spec:
            return True
        team = self.teams[issue["team_id"]]
        state = self.states[issue["state_id"]]
        labels = [self.labels[i] for i in issue["label_ids"]]
        checks = [
            _compare(issue["id"], spec.get("id")),
            _compare(issue["number"], spec.get("number")),
            _compare(issue["title"], spec.get("title")),
            _compare(issue["description"], spec.get("description")),
            _compare(issue["priority"], spec.get("priority")),
            self._team_matches(team, spec.get("team")),
            not spec.get("state")
            or all(_compare(state[k], spec["state"].get(k)) for k in ("id", "name", "type")),
            self._user_matches(issue["assignee_id"], spec.get("assignee")),
            self._user_matches(issue["creator_id"], spec.get("creator")),
            self._labels_match(labels, spec.get("labels")),
            all(self.matches(issue, sub) for sub in spec.get("and") or []),
            not spec.get("or") or any(self.matches(issue, sub) for sub in spec["or"]),
        ]
        return all(checks)

    def _team_matches(self, team: dict[str, Any], spec: dict[str, Any] | None) -> bool:
        if not spec:
            return True
        return (
            _compare(team["id"], spec.get("id"))
            and _compare(team["key"], spec.get("key"))
            and _compare(team["name"], spec.get("name"))
            and all(self._team_matches(team, s) for s in spec.get("and") or [])
            and (not spec.get("or") or any(self._team_matches(team, s) for s in spec["or"]))
        )

    def _user_matches(self, user_id: str | None, spec: dict[str, Any] | None) -> bool:
        if not spec:
            return True
        if spec.get("null") is not None and (user_id is None) != spec["null"]:
            return False
        user = self.users.get(user_id or "")
        if user is None:
            return not any(spec.get(k) for k in ("id", "name", "email"))
        return all(_compare(user[k], spec.get(k)) for k in ("id", "name", "email"))

    @staticmethod
    def _labels_match(labels: list[dict[str, Any]], spec: dict[str, Any] | None) -> bool:
        if not spec:
            return True

        def one(label: dict[str, Any], s: dict[str, Any]) -> bool:
            return _compare(label["id"], s.get("id")) and _compare(label["name"], s.get("name"))

        direct = {k: spec[k] for k in ("id", "name") if spec.get(k)}
        if direct and not any(one(lb, direct) for lb in labels):
            return False
        if spec.get("some") and not any(one(lb, spec["some"]) for lb in labels):
            return False
        return not spec.get("every") or all(one(lb, spec["every"]) for lb in labels)

    def search(
        self, term: str, *, include_comments: bool, team_id: str | None
    ) -> list[tuple[dict[str, Any], float]]:
        """Full-text search, ranked: an identifier hit first, then title hits over body and comments."""
        wanted = _terms(term)
        exact = term.strip().upper()
        with self._lock:
            scored = []
            for issue in self.issues.values():
                if team_id and issue["team_id"] != team_id:
                    continue
                if self.identifier(issue) == exact:
                    scored.append((issue, 100.0))
                    continue
                title = _terms(issue["title"])
                body = _terms(issue["description"] or "")
                if include_comments:
                    for c in self.issue_comments(issue["id"]):
                        body |= _terms(c["body"])
                hits = [t for t in wanted if t in title or t in body]
                if not hits:
                    continue
                score = (
                    len(hits) * 2 + sum(2 for t in hits if t in title) + sum(0.5 for t in hits if t in body)
                )
                scored.append((issue, score))
            scored.sort(key=lambda pair: (-pair[1], -pair[0]["updatedAt"]))
            return scored

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            issues = []
            for issue in self.issues.values():
                issues.append({**issue, "identifier": self.identifier(issue)})
            return copy.deepcopy(
                {
                    "organization": self.organization,
                    "users": list(self.users.values()),
                    "teams": list(self.teams.values()),
                    "labels": list(self.labels.values()),
                    "issues": issues,
                    "comments": list(self.comments.values()),
                    "last_sync_id": self.last_sync_id,
                }
            )


# --- GraphQL views ---------------------------------------------------------------------


def _page_args(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE
    if first < 0:
        raise invalid("first", "first must not be less than 0")
    return min(first, MAX_PAGE)


def connection(
    items: list[Any], view: Callable[[Any], dict[str, Any]], first: int | None, after: str | None
) -> dict[str, Any]:
    """Relay-style page; the cursor is an opaque wrapper of the last node's id."""
    start = 0
    if after:
        try:
            anchor = base64.urlsafe_b64decode(after.encode()).decode()
        except ValueError:
            raise invalid("after", "after is not a valid cursor") from None
        ids = [item["id"] for item in items]
        if anchor not in ids:
            raise invalid("after", "after is not a valid cursor")
        start = ids.index(anchor) + 1
    size = _page_args(first)
    page = items[start : start + size]

    def cursor(item: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(str(item["id"]).encode()).decode()

    return {
        "nodes": [view(item) for item in page],
        "pageInfo": {
            "hasNextPage": start + size < len(items),
            "hasPreviousPage": start > 0,
            "startCursor": cursor(page[0]) if page else None,
            "endCursor": cursor(page[-1]) if page else None,
        },
    }


@dataclass
class Views:
    """Turns state records into the dicts graphql-core resolves fields from. `base` is the
    simulator's own URL (mount prefix included) for the `url` fields."""

    state: TrackerState
    base: str

    def org_url(self) -> str:
        return f"{self.base}/{self.state.organization['urlKey']}"

    def user(self, record: dict[str, Any]) -> dict[str, Any]:
        st = self.state
        return {
            **{k: record[k] for k in ("id", "name", "displayName", "email", "active", "admin")},
            "createdAt": _iso(record["createdAt"]),
            "url": f"{self.org_url()}/profiles/{record['displayName']}",
            "assignedIssues": lambda info, first=None, after=None, filter=None: connection(
                [
                    i
                    for i in self._issues_sorted()
                    if i["assignee_id"] == record["id"] and st.matches(i, filter)
                ],
                self.issue,
                first,
                after,
            ),
        }

    def _issues_sorted(self) -> list[dict[str, Any]]:
        return sorted(self.state.issues.values(), key=lambda i: -i["createdAt"])

    def team(self, record: dict[str, Any]) -> dict[str, Any]:
        st = self.state
        return {
            **{k: record[k] for k in ("id", "key", "name", "description", "private")},
            "createdAt": _iso(record["createdAt"]),
            "updatedAt": _iso(record["updatedAt"]),
            "issueCount": sum(1 for i in st.issues.values() if i["team_id"] == record["id"]),
            "issues": lambda info, first=None, after=None, filter=None: connection(
                [i for i in self._issues_sorted() if i["team_id"] == record["id"] and st.matches(i, filter)],
                self.issue,
                first,
                after,
            ),
            "members": lambda info, first=None, after=None: connection(
                list(st.users.values()), self.user, first, after
            ),
            "states": lambda info, first=None, after=None: connection(
                sorted(
                    (s for s in st.states.values() if s["team_id"] == record["id"]),
                    key=lambda s: s["position"],
                ),
                self.workflow_state,
                first,
                after,
            ),
            "labels": lambda info, first=None, after=None: connection(
                [lb for lb in st.labels.values() if lb["team_id"] == record["id"]], self.label, first, after
            ),
        }

    def workflow_state(self, record: dict[str, Any]) -> dict[str, Any]:
        return {
            **{k: record[k] for k in ("id", "name", "type", "color", "position")},
            "team": lambda info: self.team(self.state.teams[record["team_id"]]),
        }

    def label(self, record: dict[str, Any]) -> dict[str, Any]:
        team_id = record["team_id"]
        return {
            **{k: record[k] for k in ("id", "name", "color", "description")},
            "team": lambda info: self.team(self.state.teams[team_id]) if team_id else None,
        }

    def issue_url(self, record: dict[str, Any]) -> str:
        return f"{self.org_url()}/issue/{self.state.identifier(record)}/{slugify(record['title'])}"

    def issue(self, record: dict[str, Any]) -> dict[str, Any]:
        st = self.state
        identifier = st.identifier(record)
        return {
            **{k: record[k] for k in ("id", "number", "title", "description", "priority")},
            "identifier": identifier,
            "priorityLabel": PRIORITY_LABELS.get(int(record["priority"]), "No priority"),
            "url": self.issue_url(record),
            "branchName": f"{identifier.lower()}-{slugify(record['title'])}"[:80],
            **{
                k: _iso(record[k])
                for k in ("createdAt", "updatedAt", "startedAt", "completedAt", "canceledAt")
            },
            "team": lambda info: self.team(st.teams[record["team_id"]]),
            "state": lambda info: self.workflow_state(st.states[record["state_id"]]),
            "assignee": lambda info: (
                self.user(st.users[record["assignee_id"]]) if record["assignee_id"] else None
            ),
            "creator": lambda info: (
                self.user(st.users[record["creator_id"]]) if record["creator_id"] else None
            ),
            "labelIds": list(record["label_ids"]),
            "labels": lambda info, first=None, after=None: connection(
                [st.labels[i] for i in record["label_ids"]], self.label, first, after
            ),
            "comments": lambda info, first=None, after=None, filter=None: connection(
                [c for c in st.issue_comments(record["id"]) if self._comment_matches(c, filter)],
                self.comment,
                first,
                after,
            ),
        }

    def issue_event(self, record: dict[str, Any]) -> dict[str, Any]:
        """An issue as a webhook's `data` carries it: plain fields and ids, no connections."""
        st = self.state
        team, state = st.teams[record["team_id"]], st.states[record["state_id"]]
        return {
            **{k: record[k] for k in ("id", "number", "title", "description", "priority")},
            "identifier": st.identifier(record),
            "priorityLabel": PRIORITY_LABELS.get(int(record["priority"]), "No priority"),
            "url": self.issue_url(record),
            "createdAt": _iso(record["createdAt"]),
            "updatedAt": _iso(record["updatedAt"]),
            "teamId": team["id"],
            "team": {"id": team["id"], "key": team["key"], "name": team["name"]},
            "stateId": state["id"],
            "state": {k: state[k] for k in ("id", "name", "type", "color")},
            "assigneeId": record["assignee_id"],
            "creatorId": record["creator_id"],
            "labelIds": list(record["label_ids"]),
            "labels": [{k: st.labels[i][k] for k in ("id", "name", "color")} for i in record["label_ids"]],
        }

    def comment_event(self, record: dict[str, Any]) -> dict[str, Any]:
        issue = self.state.issues[record["issue_id"]]
        return {
            **{k: record[k] for k in ("id", "body")},
            "url": f"{self.issue_url(issue)}#comment-{record['id'][:8]}",
            "createdAt": _iso(record["createdAt"]),
            "updatedAt": _iso(record["updatedAt"]),
            "issueId": issue["id"],
            "issue": {"id": issue["id"], "identifier": self.state.identifier(issue), "title": issue["title"]},
            "userId": record["user_id"],
            "parentId": record["parent_id"],
        }

    @staticmethod
    def _comment_matches(record: dict[str, Any], spec: dict[str, Any] | None) -> bool:
        return not spec or (
            _compare(record["id"], spec.get("id")) and _compare(record["body"], spec.get("body"))
        )

    def comment(self, record: dict[str, Any]) -> dict[str, Any]:
        st = self.state
        issue = st.issues[record["issue_id"]]
        return {
            "id": record["id"],
            "body": record["body"],
            "url": f"{self.issue_url(issue)}#comment-{record['id'][:8]}",
            "createdAt": _iso(record["createdAt"]),
            "updatedAt": _iso(record["updatedAt"]),
            "editedAt": None,
            "user": lambda info: self.user(st.users[record["user_id"]]) if record["user_id"] else None,
            "issue": lambda info: self.issue(st.issues[record["issue_id"]]),
            "parent": lambda info: (
                self.comment(st.comments[record["parent_id"]]) if record["parent_id"] else None
            ),
        }

    # root fields

    def root(self) -> dict[str, Any]:
        st = self.state

        def viewer(info: Any) -> dict[str, Any]:
            if st.viewer_id is None:
                raise not_found("User")
            return self.user(st.users[st.viewer_id])

        def search_issues(
            info: Any,
            term: str,
            first: int | None = None,
            after: str | None = None,
            filter: dict[str, Any] | None = None,
            includeComments: bool | None = None,
            teamId: str | None = None,
        ) -> dict[str, Any]:
            if not term.strip():
                raise invalid("term", "term should not be empty")
            team_id = st.team(teamId)["id"] if teamId else None
            scored = [
                (issue, score)
                for issue, score in st.search(term, include_comments=bool(includeComments), team_id=team_id)
                if st.matches(issue, filter)
            ]
            scores = {issue["id"]: score for issue, score in scored}

            def result(record: dict[str, Any]) -> dict[str, Any]:
                return {**self.issue(record), "metadata": {"score": scores[record["id"]]}}

            page = connection([issue for issue, _ in scored], result, first, after)
            return {**page, "totalCount": float(len(scored))}

        return {
            "viewer": viewer,
            "organization": lambda info: dict(st.organization),
            "users": lambda info, first=None, after=None: connection(
                list(st.users.values()), self.user, first, after
            ),
            "teams": lambda info, first=None, after=None, filter=None: connection(
                [t for t in st.teams.values() if st._team_matches(t, filter)], self.team, first, after
            ),
            "team": lambda info, id: self.team(st.team(id)),
            "issue": lambda info, id: self.issue(st.issue(id)),
            "issues": lambda info, first=None, after=None, filter=None: connection(
                [i for i in self._issues_sorted() if st.matches(i, filter)], self.issue, first, after
            ),
            "searchIssues": search_issues,
            "comment": lambda info, id: self.comment(st.comment(id)),
            "comments": lambda info, first=None, after=None, filter=None: connection(
                sorted(
                    (c for c in st.comments.values() if self._comment_matches(c, filter)),
                    key=lambda c: -c["createdAt"],
                ),
                self.comment,
                first,
                after,
            ),
            "issueLabels": lambda info, first=None, after=None, filter=None: connection(
                [
                    lb
                    for lb in st.labels.values()
                    if not filter
                    or (_compare(lb["id"], filter.get("id")) and _compare(lb["name"], filter.get("name")))
                ],
                self.label,
                first,
                after,
            ),
            # mutations share the root value
            "issueCreate": lambda info, input: {
                "issue": self.issue(st.create_issue(input, creator_id=st.viewer_id)),
                "success": True,
                "lastSyncId": float(st.last_sync_id),
            },
            "commentCreate": lambda info, input: {
                "comment": self.comment(st.create_comment(input, user_id=st.viewer_id)),
                "success": True,
                "lastSyncId": float(st.last_sync_id),
            },
        }


# --- auth ------------------------------------------------------------------------------


@dataclass
class LinearAuth(SimulatorAuth):
    """Linear's credentials: a personal API key sent bare in Authorization, or an OAuth
    access token as `Bearer <token>`. With neither configured, anything is let in."""

    api_keys: frozenset[str] | None = None

    @property
    def open(self) -> bool:
        return not self.api_keys and not self.bearer and self.basic is None

    def identify(self, authorization: str | None) -> tuple[bool, str | None]:
        if self.open:
            return True, None
        value = (authorization or "").strip()
        if self.api_keys and value in self.api_keys:
            return True, None
        scheme, _, token = value.partition(" ")
        if scheme.lower() == "bearer" and self.bearer and token.strip() in self.bearer:
            return True, None
        return False, None


# --- the app -------------------------------------------------------------------------


def _graphql_error(message: str, code: str, locations: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message}
    if locations:
        error["locations"] = locations
    error["extensions"] = {"code": code}
    return error


def run_query(
    state: TrackerState, base: str, query: Any, variables: Any, operation_name: Any
) -> tuple[int, dict[str, Any]]:
    """Parse, validate and execute one GraphQL request; (HTTP status, response body)."""
    if not isinstance(query, str) or not query.strip():
        return 400, {"errors": [_graphql_error("Must provide query string.", "BAD_REQUEST")]}
    if variables is not None and not isinstance(variables, dict):
        return 400, {"errors": [_graphql_error("Variables must be an object.", "BAD_REQUEST")]}
    if operation_name is not None and not isinstance(operation_name, str):
        return 400, {"errors": [_graphql_error("operationName must be a string.", "BAD_REQUEST")]}
    try:
        document = parse(query)
    except GraphQLError as exc:
        return 400, {"errors": [{**exc.formatted, "extensions": {"code": "GRAPHQL_PARSE_FAILED"}}]}
    problems = validate(SCHEMA, document)
    if problems:
        return 400, {
            "errors": [{**e.formatted, "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}} for e in problems]
        }
    views = Views(state, base)
    with state._lock:  # one request at a time sees and changes the state: no torn reads
        result = execute_sync(
            SCHEMA,
            document,
            root_value=views.root(),
            variable_values=variables,
            operation_name=operation_name,
        )
    body: dict[str, Any] = {}
    if result.errors:
        errors = []
        for error in result.errors:
            formatted: dict[str, Any] = dict(error.formatted)  # type: ignore[arg-type]
            extensions = dict(formatted.get("extensions") or {})
            if error.original_error is not None and not isinstance(error.original_error, GraphQLError):
                formatted["message"] = "Internal server error"
                extensions.setdefault("code", "INTERNAL_SERVER_ERROR")
            extensions.setdefault(
                "code", "BAD_USER_INPUT" if result.data is None else "INTERNAL_SERVER_ERROR"
            )
            formatted["extensions"] = extensions
            errors.append(formatted)
        body["errors"] = errors
    body["data"] = result.data
    status = 400 if result.errors and result.data is None and _is_request_error(result.errors) else 200
    return status, body


def _is_request_error(errors: Iterable[GraphQLError]) -> bool:
    """Variable coercion and unknown-operation errors happen before execution: a bad request."""
    return all(e.path is None for e in errors)


def create_app(
    state: TrackerState | None = None,
    *,
    seed: bool = True,
    api_keys: Iterable[str] | None = None,
    oauth_tokens: Iterable[str] | None = None,
    auth: SimulatorAuth | None = None,
    faults: Faults | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> FastAPI:
    """A Linear-shaped ASGI app. `seed` fills an empty state with the demo workspace;
    `api_keys` (sent bare) and `oauth_tokens` (sent as Bearer) are the accepted
    credentials (default: anything); `auth` overrides both. State, faults and auth
    are also on `app.state` for in-process tests."""
    state = state if state is not None else TrackerState()
    if seed and not state.issues:
        seed_data.seed(state)
    faults = faults or Faults()
    if auth is None:
        auth = LinearAuth(
            api_keys=frozenset(api_keys) if api_keys else None,
            bearer=frozenset(oauth_tokens) if oauth_tokens else None,
        )
    app = simulator_app(
        "Tracker simulator (Linear GraphQL API)",
        state_name="tracker",
        state=state,
        faults=faults,
        auth=auth,
        error_body=linear_error_body,
        sleep=sleep,
        controls=WEBHOOK_CONTROLS,
    )
    app.include_router(webhook_router(lambda request: request.app.state.tracker.webhooks))

    @app.post("/graphql")
    async def graphql_endpoint(request: Request) -> Response:
        try:
            payload = json.loads(await request.body() or b"null")
        except ValueError:
            return JSONResponse(
                {"errors": [_graphql_error("Body is not valid JSON.", "BAD_REQUEST")]}, status_code=400
            )
        if not isinstance(payload, dict):
            return JSONResponse(
                {"errors": [_graphql_error("Body must be a JSON object.", "BAD_REQUEST")]}, status_code=400
            )
        status, body = run_query(
            state,
            mount_base(request),
            payload.get("query"),
            payload.get("variables"),
            payload.get("operationName"),
        )
        # Linear sends its webhooks after the write, not as part of the answer.
        sends = BackgroundTask(state.webhooks.flush) if state.queue_events(mount_base(request)) else None
        return JSONResponse(body, status_code=status, background=sends)

    @app.get("/{org}/issue/{identifier}", include_in_schema=False)
    @app.get("/{org}/issue/{identifier}/{slug}", include_in_schema=False)
    async def issue_page(org: str, identifier: str, slug: str = "") -> Response:
        """The page an issue's url opens, so links in approvals and answers work."""
        try:
            with state._lock:
                issue = copy.deepcopy(state.issue(identifier))
                comments = copy.deepcopy(state.issue_comments(issue["id"]))
                label = state.identifier(issue)
        except GraphQLError:
            return HTMLResponse("<h1>Issue not found</h1>", status_code=404)
        items = "".join(f"<li>{html.escape(c['body'])}</li>" for c in comments)
        return HTMLResponse(
            f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{label} {html.escape(issue['title'])}"
            f"</title></head><body><main><h1>{label}: {html.escape(issue['title'])}</h1>"
            f"<p>{html.escape(issue['description'] or '')}</p><ul>{items}</ul></main></body></html>"
        )

    return app
