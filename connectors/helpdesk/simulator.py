"""A loopback Zendesk: the Support API v2 endpoints the help-desk connector uses.

It answers in Zendesk's wire format (tickets, comments, audits with custom
metadata, users, search, Help Center articles, `Idempotency-Key` on ticket
creation, `{"error": ..., "description": ...}` errors), so the connector is
tested against the shapes it will meet in production and a write can be read
back the way Zendesk shows it. State is in memory and guarded by a lock: the
demo serves it from uvicorn's thread while tests inspect it from theirs.

Faults and credentials are steered through `connectors.simulator_base`
(`POST /_faults`, `GET /_state`).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import functools
import html
import json
import re
import threading
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from connectors.helpdesk import seed as seed_data
from connectors.helpdesk.client import html_to_text
from connectors.simulator_base import Faults, SimulatorAuth, mount_base, simulator_app

STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")
TYPES = ("problem", "incident", "question", "task")
AGENT_ROLES = ("agent", "admin")
MAX_PER_PAGE = 100


# Zendesk keeps a ticket creation's Idempotency-Key for two hours (its API introduction, "Idempotency").
IDEMPOTENCY_TTL = 2 * 3600


class ZendeskError(Exception):
    """An error answered in Zendesk's shape."""

    def __init__(self, status: int, error: str, description: str | None = None, details: Any = None):
        super().__init__(description or error)
        self.status = status
        self.error = error
        self.description = description
        self.details = details

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.error}
        if self.description is not None:
            out["description"] = self.description
        if self.details is not None:
            out["details"] = self.details
        return out


def invalid(field: str, message: str) -> ZendeskError:
    return ZendeskError(
        422,
        "RecordInvalid",
        "Record validation errors",
        {field: [{"description": message, "error": "InvalidValue"}]},
    )


def not_found() -> ZendeskError:
    return ZendeskError(404, "RecordNotFound", "Not found")


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def text_to_html(text: str) -> str:
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    inner = "".join(f'<p dir="auto">{html.escape(p).replace(chr(10), "<br>")}</p>' for p in paragraphs)
    return f'<div class="zd-comment" dir="auto">{inner}</div>'


# --- text matching for search -------------------------------------------------------

_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "do",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "my",
        "me",
        "of",
        "on",
        "or",
        "our",
        "please",
        "the",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "where",
        "why",
        "with",
        "you",
        "your",
    ]
)


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A crude English stemmer: enough that 'charged', 'charges' and 'charge' meet."""
    w = word.lower()
    for suffix in ("ing", "ed", "es", "s"):
        if len(w) > len(suffix) + 2 and w.endswith(suffix):
            w = w[: -len(suffix)]
            break
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    return w


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def stems(text: str) -> set[str]:
    return {stem(w) for w in words(text)}


@functools.lru_cache(maxsize=4096)
def _indexed(
    title: str, labels: tuple[str, ...], body: str
) -> tuple[frozenset[str], frozenset[str], tuple[tuple[str, frozenset[str]], ...]]:
    """An article's search index: title and label stems, body stems, and its sentences with theirs.
    Keyed by the article's text, so an edited article is indexed afresh (as the Help Center's own
    index is, once, not on every search)."""
    text = html_to_text(body)
    sentences = tuple((s, frozenset(stems(s))) for s in re.split(r"(?<=[.!?])\s+", text))
    return frozenset(stems(title) | stems(" ".join(labels))), frozenset(stems(text)), sentences


def slugify(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


_QUERY_TOKEN = re.compile(r'(-?)(\w+)(:|<=|>=|<|>)("[^"]*"|\S+)|(-?)"([^"]*)"|(\S+)')


def parse_search(query: str) -> tuple[list[tuple[bool, str, str, str]], list[tuple[bool, str]]]:
    """Zendesk search syntax: `key:value` / `key<value` filters (optionally negated with
    a leading '-') and free text (words or "quoted phrases")."""
    filters: list[tuple[bool, str, str, str]] = []
    free: list[tuple[bool, str]] = []
    for m in _QUERY_TOKEN.finditer(query):
        if m.group(2):
            filters.append((m.group(1) == "-", m.group(2).lower(), m.group(3), m.group(4).strip('"').lower()))
        elif m.group(6) is not None:
            free.append((m.group(5) == "-", m.group(6).lower()))
        elif m.group(7):
            token = m.group(7)
            free.append((token.startswith("-") and len(token) > 1, token.lstrip("-").lower()))
    return filters, free


def _ordered_compare(order: tuple[str, ...], actual: str | None, op: str, wanted: str) -> bool:
    if actual is None or actual not in order or wanted not in order:
        return op == ":" and actual == wanted
    a, w = order.index(actual), order.index(wanted)
    return {":": a == w, "<": a < w, ">": a > w, "<=": a <= w, ">=": a >= w}[op]


# --- state ---------------------------------------------------------------------------


class HelpdeskState:
    """Users, tickets (with comments and audits), Help Center articles and idempotency keys."""

    def __init__(self, *, clock: Callable[[], datetime] | None = None):
        self._lock = threading.RLock()
        self._clock = clock or (lambda: datetime.now(UTC))
        self.users: dict[int, dict[str, Any]] = {}
        self.tickets: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.audits: dict[int, list[dict[str, Any]]] = {}
        self.articles: dict[int, dict[str, Any]] = {}
        # Idempotency-Key -> (request fingerprint, response body, when) for POST tickets.json
        self.idempotency: dict[str, tuple[str, dict[str, Any], datetime]] = {}
        # Whom a request acts as when its credentials name no known user (e.g. a bearer token).
        self.default_user_id: int | None = None
        self._next = {"ticket": 1, "user": 10001, "event": 5_000_001, "article": 360000000101}

    def _id(self, kind: str) -> int:
        value = self._next[kind]
        self._next[kind] = value + 1
        return value

    def now(self) -> datetime:
        return self._clock()

    # users

    def add_user(
        self,
        *,
        name: str,
        email: str,
        role: str = "end-user",
        locale: str = "en-US",
        time_zone: str = "UTC",
        at: datetime | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            if self.user_by_email(email) is not None:
                raise invalid("email", f"Email: {email} is already being used by another user")
            stamp = iso(at or self.now())
            user: dict[str, Any] = {
                "id": self._id("user"),
                "name": name,
                "email": email,
                "role": role,
                "locale": locale,
                "time_zone": time_zone,
                "iana_time_zone": time_zone,
                "created_at": stamp,
                "updated_at": stamp,
                "active": True,
                "verified": True,
                "suspended": False,
                "organization_id": None,
                "phone": None,
                "tags": [],
                "details": "",
                "notes": "",
                "user_fields": {},
            }
            self.users[user["id"]] = user
            return copy.deepcopy(user)

    def user_by_email(self, email: str) -> dict[str, Any] | None:
        with self._lock:
            wanted = email.strip().lower()
            for user in self.users.values():
                if user["email"].lower() == wanted:
                    return user
            return None

    def user_for_principal(self, principal: str | None) -> dict[str, Any] | None:
        """The user named by basic-auth credentials (`{email}/token` or `{email}`), if known."""
        if not principal:
            return None
        return self.user_by_email(principal.removesuffix("/token"))

    def acting_user_id(self, principal: str | None) -> int | None:
        user = self.user_for_principal(principal)
        return user["id"] if user else self.default_user_id

    def search_users(self, query: str) -> list[dict[str, Any]]:
        q = query.strip().lower()
        with self._lock:
            exact = [u for u in self.users.values() if u["email"].lower() == q]
            if exact:
                return copy.deepcopy(exact)
            return copy.deepcopy(
                [u for u in self.users.values() if q and (q in u["email"].lower() or q in u["name"].lower())]
            )

    # tickets

    def _agent_id(self, payload: dict[str, Any]) -> tuple[bool, int | None]:
        """(given, id) for assignee_id / assignee_email in a ticket payload."""
        if "assignee_email" in payload and payload["assignee_email"] is not None:
            user = self.user_by_email(str(payload["assignee_email"]))
            if user is None or user["role"] not in AGENT_ROLES:
                raise invalid("assignee", f"Assignee: {payload['assignee_email']} is not an agent")
            return True, user["id"]
        if "assignee_id" in payload:
            value = payload["assignee_id"]
            if value is None:
                return True, None
            user = self.users.get(value) if isinstance(value, int) else None
            if user is None or user["role"] not in AGENT_ROLES:
                raise invalid("assignee", f"Assignee: {value} is not an agent")
            return True, value
        return False, None

    @staticmethod
    def _check_choice(payload: dict[str, Any], field: str, choices: tuple[str, ...]) -> None:
        value = payload.get(field)
        if value is not None and value not in choices:
            raise invalid(field, f"{field.capitalize()}: {value} is not valid")

    @staticmethod
    def _tags(value: Any, field: str) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            value = value.split()
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise invalid(field, f"{field}: must be a list of strings")
        out: list[str] = []
        for tag in value:
            for t in tag.strip().lower().split():
                if t not in out:
                    out.append(t)
        return out

    def _comment(
        self, ticket_id: int, spec: Any, *, author_id: int | None, at: datetime, via: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Build a comment and its audit event (they share an id, as in Zendesk)."""
        if not isinstance(spec, dict):
            raise invalid("comment", "Comment: must be an object")
        html_body = spec.get("html_body")
        body = spec.get("body")
        if html_body and not body:
            body = html_to_text(str(html_body))
        if not isinstance(body, str) or not body.strip():
            raise invalid("comment", "Comment: cannot be blank")
        public = spec.get("public", True)
        if not isinstance(public, bool):
            raise invalid("comment", "Comment public: must be true or false")
        author = spec.get("author_id", author_id)
        if author is not None and author not in self.users:
            raise invalid("comment", f"Comment author: {author} does not exist")
        comment: dict[str, Any] = {
            "id": self._id("event"),
            "type": "Comment",
            "author_id": author,
            "body": body,
            "html_body": str(html_body) if html_body else text_to_html(body),
            "plain_body": body,
            "public": public,
            "attachments": [],
            "audit_id": None,
            "via": {"channel": via, "source": {"from": {}, "to": {}, "rel": None}},
            "created_at": iso(at),
            "metadata": {"system": {"client": "Switchboard simulator"}, "custom": {}},
        }
        event = {
            k: comment[k] for k in ("id", "type", "author_id", "body", "html_body", "plain_body", "public")
        }
        event["attachments"] = []
        return comment, event

    def _audit(
        self, ticket_id: int, *, author_id: int | None, at: datetime, via: str, custom: Any, events: list[Any]
    ) -> dict[str, Any]:
        if custom is not None and not isinstance(custom, dict):
            raise invalid("metadata", "Metadata custom: must be an object")
        return {
            "id": self._id("event"),
            "ticket_id": ticket_id,
            "created_at": iso(at),
            "author_id": author_id,
            "metadata": {
                "system": {
                    "client": "Switchboard simulator",
                    "ip_address": "127.0.0.1",
                    "location": "Loopback",
                },
                "custom": dict(custom or {}),
            },
            "events": events,
            "via": {"channel": via, "source": {"from": {}, "to": {}, "rel": None}},
        }

    def _custom_metadata(self, payload: dict[str, Any]) -> Any:
        """What the request sent in `ticket.metadata`: Zendesk stores all of it, as sent,
        under the audit's `metadata.custom` (its own `metadata.system` is never settable)."""
        metadata = payload.get("metadata")
        if metadata is None:
            return None
        if not isinstance(metadata, dict):
            raise invalid("metadata", "Metadata: must be an object")
        if len(json.dumps(metadata)) > 1024:
            raise invalid("metadata", "Metadata: is too long (maximum is 1 kilobyte)")
        return metadata

    def create_ticket(
        self,
        payload: dict[str, Any],
        *,
        author_id: int | None,
        at: datetime | None = None,
        via: str = "api",
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """POST tickets.json. The requester may be `requester_id` or `requester: {email, name}`
        (an unknown email creates an end user, as Zendesk does)."""
        at = at or self.now()
        with self._lock:
            for field, choices in (("priority", PRIORITIES), ("status", STATUSES), ("type", TYPES)):
                self._check_choice(payload, field, choices)
            if "comment" not in payload:
                raise invalid("description", "Description: cannot be blank")
            requester_id = self._requester(payload, author_id, at)
            _, assignee_id = self._agent_id(payload)
            tags = self._tags(payload.get("tags"), "tags")
            custom = self._custom_metadata(payload)
            ticket_id = self._next["ticket"]
            comment, event = self._comment(
                ticket_id, payload["comment"], author_id=author_id or requester_id, at=at, via=via
            )
            self._id("ticket")
            subject = payload.get("subject") or comment["body"].strip().splitlines()[0][:80]
            status = payload.get("status") or ("open" if assignee_id else "new")
            stamp = iso(at)
            ticket = {
                "id": ticket_id,
                "external_id": payload.get("external_id"),
                "via": {"channel": via, "source": {"from": {}, "to": {}, "rel": None}},
                "created_at": stamp,
                "updated_at": stamp,
                "type": payload.get("type"),
                "subject": subject,
                "raw_subject": subject,
                "description": comment["body"],
                "priority": payload.get("priority"),
                "status": status,
                "recipient": None,
                "requester_id": requester_id,
                "submitter_id": author_id or requester_id,
                "assignee_id": assignee_id,
                "organization_id": None,
                "group_id": None,
                "collaborator_ids": [],
                "follower_ids": [],
                "email_cc_ids": [],
                "has_incidents": False,
                "is_public": comment["public"],
                "due_at": None,
                "tags": tags,
                "custom_fields": [],
                "satisfaction_rating": None,
                "allow_channelback": False,
                "allow_attachments": True,
            }
            events: list[Any] = [event]
            for field in ("subject", "status", "priority", "type", "requester_id", "assignee_id", "tags"):
                if ticket[field] not in (None, []):
                    events.append(
                        {
                            "id": self._id("event"),
                            "type": "Create",
                            "field_name": field,
                            "value": ticket[field],
                        }
                    )
            audit = self._audit(
                ticket_id, author_id=comment["author_id"], at=at, via=via, custom=custom, events=events
            )
            comment["audit_id"] = audit["id"]
            comment["metadata"]["custom"] = dict(audit["metadata"]["custom"])
            self.tickets[ticket_id] = ticket
            self.comments[ticket_id] = [comment]
            self.audits[ticket_id] = [audit]
            return copy.deepcopy(ticket), copy.deepcopy(audit)

    def _requester(self, payload: dict[str, Any], author_id: int | None, at: datetime) -> int:
        if payload.get("requester_id") is not None:
            rid = payload["requester_id"]
            if rid not in self.users:
                raise invalid("requester", f"Requester: {rid} does not exist")
            return int(rid)
        requester = payload.get("requester")
        if isinstance(requester, dict) and requester.get("email"):
            email = str(requester["email"]).strip()
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
                raise invalid("requester", f"Requester: Email {email} is not properly formatted")
            user = self.user_by_email(email)
            if user is None:
                name = requester.get("name") or email.split("@")[0].replace(".", " ").title()
                user = self.add_user(name=name, email=email, at=at)
            return int(user["id"])
        if author_id is not None:
            return author_id
        raise invalid("requester", "Requester: cannot be blank")

    def update_ticket(
        self,
        ticket_id: int,
        payload: dict[str, Any],
        *,
        author_id: int | None,
        at: datetime | None = None,
        via: str = "api",
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """PUT tickets/{id}.json. One audit per update that changed something, carrying
        the request's `metadata.custom`; no audit when nothing changed."""
        at = at or self.now()
        with self._lock:
            ticket = self.tickets.get(ticket_id)
            if ticket is None:
                raise not_found()
            if ticket["status"] == "closed":
                raise invalid("status", "Status: closed prevents ticket update")
            for field, choices in (("priority", PRIORITIES), ("status", STATUSES), ("type", TYPES)):
                self._check_choice(payload, field, choices)
            custom = self._custom_metadata(payload)
            new = self._updated_fields(ticket, payload)
            events: list[Any] = []
            comment = None
            if payload.get("comment") is not None:
                comment, event = self._comment(
                    ticket_id, payload["comment"], author_id=author_id, at=at, via=via
                )
                events.append(event)
            actor = self.users.get(comment["author_id"] if comment else author_id or -1)
            if actor is not None and actor["role"] in AGENT_ROLES:
                _agent_touch(new, payload, actor, commented=comment is not None)
            events += self._changes(ticket, new)
            if not events:
                return copy.deepcopy(ticket), None
            new["raw_subject"] = new["subject"]
            new["updated_at"] = iso(at)
            audit_author = comment["author_id"] if comment else author_id
            audit = self._audit(
                ticket_id, author_id=audit_author, at=at, via=via, custom=custom, events=events
            )
            if comment is not None:
                comment["audit_id"] = audit["id"]
                comment["metadata"]["custom"] = dict(audit["metadata"]["custom"])
                self.comments[ticket_id].append(comment)
            self.tickets[ticket_id] = new
            self.audits[ticket_id].append(audit)
            return copy.deepcopy(new), copy.deepcopy(audit)

    def _updated_fields(self, ticket: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        """The ticket with the fields, assignee and tags the update sets (checked)."""
        new = dict(ticket)
        for field in ("priority", "status", "type", "subject"):
            if field in payload:
                new[field] = payload[field]
        assignee_given, assignee_id = self._agent_id(payload)
        if assignee_given:
            new["assignee_id"] = assignee_id
        if "tags" in payload:
            new["tags"] = self._tags(payload["tags"], "tags")
        if "additional_tags" in payload:
            extra = self._tags(payload["additional_tags"], "additional_tags")
            new["tags"] = list(new["tags"]) + [t for t in extra if t not in new["tags"]]
        if "remove_tags" in payload:
            drop = set(self._tags(payload["remove_tags"], "remove_tags"))
            new["tags"] = [t for t in new["tags"] if t not in drop]
        return new

    def _changes(self, ticket: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
        """A Change audit event for every field the update changed."""
        return [
            {
                "id": self._id("event"),
                "type": "Change",
                "field_name": field,
                "value": new[field],
                "previous_value": ticket[field],
            }
            for field in ("subject", "status", "priority", "type", "assignee_id", "tags")
            if new[field] != ticket[field]
        ]

    def ticket(self, ticket_id: int) -> dict[str, Any]:
        with self._lock:
            if ticket_id not in self.tickets:
                raise not_found()
            return copy.deepcopy(self.tickets[ticket_id])

    def ticket_comments(self, ticket_id: int) -> list[dict[str, Any]]:
        with self._lock:
            if ticket_id not in self.tickets:
                raise not_found()
            return copy.deepcopy(self.comments[ticket_id])

    def ticket_audits(self, ticket_id: int) -> list[dict[str, Any]]:
        with self._lock:
            if ticket_id not in self.tickets:
                raise not_found()
            return copy.deepcopy(self.audits[ticket_id])

    def create_ticket_idempotent(
        self, key: str, payload: dict[str, Any], *, author_id: int | None
    ) -> tuple[dict[str, Any], bool]:
        """Zendesk's Idempotency-Key on ticket creation: the same key and payload give
        the first answer again; the same key with another payload is an error. Zendesk keeps a
        key two hours; after that the same request creates another ticket."""
        fingerprint = json.dumps(payload, sort_keys=True, default=str)
        with self._lock:
            kept = self.idempotency.get(key)
            if kept is not None and self.now() - kept[2] >= timedelta(seconds=IDEMPOTENCY_TTL):
                del self.idempotency[key]
            if key in self.idempotency:
                seen, body, _ = self.idempotency[key]
                if seen != fingerprint:
                    raise ZendeskError(
                        400,
                        "IdempotentRequestError",
                        "Request parameters don't match the original request made with this Idempotency-Key",
                    )
                return copy.deepcopy(body), True
            ticket, audit = self.create_ticket(payload, author_id=author_id)
            body = {"ticket": ticket, "audit": audit}
            self.idempotency[key] = (fingerprint, body, self.now())
            return copy.deepcopy(body), False

    # search

    def _ticket_matches(self, ticket: dict[str, Any], filters: Iterable[tuple[bool, str, str, str]]) -> bool:
        for negated, key, op, value in filters:
            if key == "type":
                hit = value == "ticket"
            elif key == "status":
                hit = _ordered_compare(STATUSES, ticket["status"], op, value)
            elif key == "priority":
                hit = _ordered_compare(PRIORITIES, ticket["priority"], op, value)
            elif key in ("tags", "tag"):
                hit = value in ticket["tags"]
            elif key == "ticket_type":
                hit = ticket["type"] == value
            elif key in ("requester", "assignee", "submitter"):
                hit = self._user_matches(ticket[f"{key}_id"], value)
            elif key in ("subject", "description"):
                hit = all(stem(w) in stems(ticket[key]) for w in words(value))
            else:  # unknown property: Zendesk would treat it as text
                hit = self._text_score(ticket, [value]) > 0
            if hit == negated:
                return False
        return True

    def _user_matches(self, user_id: int | None, value: str) -> bool:
        if value == "none":
            return user_id is None
        user = self.users.get(user_id) if user_id is not None else None
        if user is None:
            return False
        return value in (str(user_id), user["email"].lower()) or value in user["name"].lower()

    def _text_score(self, ticket: dict[str, Any], terms: list[str]) -> int:
        text = " ".join(
            [ticket["subject"] or "", " ".join(ticket["tags"])]
            + [c["body"] for c in self.comments.get(ticket["id"], [])]
        )
        bag, lowered, score = stems(text), text.lower(), 0
        for term in terms:
            parts = [w for w in words(term) if w not in _STOPWORDS] or words(term)
            if " " in term.strip():
                if term.strip() not in lowered:
                    return 0
                score += 2
            elif parts and all(stem(p) in bag for p in parts):
                score += 1
            else:
                return 0
        return score

    def search(self, query: str) -> list[dict[str, Any]]:
        """GET search.json: tickets (and users, unless `type:ticket`) matching the query."""
        filters, free = parse_search(query)
        types = {v for neg, k, _, v in filters if k == "type" and not neg}
        with self._lock:
            results: list[tuple[int, str, dict[str, Any]]] = []
            if not types or "ticket" in types:
                ticket_filters = [f for f in filters if f[1] != "type"]
                must = [t for neg, t in free if not neg]
                must_not = [t for neg, t in free if neg]
                for ticket in self.tickets.values():
                    if not self._ticket_matches(ticket, ticket_filters):
                        continue
                    score = self._text_score(ticket, must) if must else 1
                    if score == 0 or any(self._text_score(ticket, [t]) for t in must_not):
                        continue
                    results.append((score, ticket["updated_at"], {**ticket, "result_type": "ticket"}))
            if not types or "user" in types:
                texts = [t for neg, t in free if not neg]
                for user in self.users.values():
                    hay = f"{user['name']} {user['email']}".lower()
                    if texts and all(t in hay for t in texts):
                        results.append((1, user["updated_at"], {**user, "result_type": "user"}))
            results.sort(key=lambda r: (r[0], r[1]), reverse=True)
            return copy.deepcopy([r[2] for r in results])

    # help center

    def add_article(
        self,
        *,
        title: str,
        body: str,
        section_id: int,
        label_names: list[str] | None = None,
        author_id: int | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            stamp = iso(at or self.now())
            article: dict[str, Any] = {
                "id": self._id("article"),
                "author_id": author_id,
                "comments_disabled": False,
                "draft": False,
                "promoted": False,
                "position": 0,
                "vote_sum": 0,
                "vote_count": 0,
                "section_id": section_id,
                "created_at": stamp,
                "updated_at": stamp,
                "edited_at": stamp,
                "name": title,
                "title": title,
                "source_locale": "en-us",
                "locale": "en-us",
                "outdated": False,
                "outdated_locales": [],
                "permission_group_id": 1,
                "user_segment_id": None,
                "label_names": list(label_names or []),
                "content_tag_ids": [],
                "body": body,
            }
            self.articles[article["id"]] = article
            return copy.deepcopy(article)

    def search_articles(self, query: str) -> list[dict[str, Any]]:
        """Help Center full-text search, ranked: title and label hits weigh more than body hits."""
        terms = [stem(w) for w in words(query) if w not in _STOPWORDS]
        with self._lock:
            scored = []
            for article in self.articles.values():
                if article["draft"]:
                    continue
                title, body, sentences = _indexed(
                    article["title"], tuple(article["label_names"]), article["body"]
                )
                score = sum(3 * (t in title) + (t in body) for t in terms)
                if score:
                    snippet = self._snippet(sentences, terms)
                    scored.append(
                        (score, article["id"], {**article, "result_type": "article", "snippet": snippet})
                    )
            scored.sort(key=lambda s: (-s[0], s[1]))
            return copy.deepcopy([s[2] for s in scored])

    @staticmethod
    def _snippet(sentences: tuple[tuple[str, frozenset[str]], ...], terms: list[str]) -> str:
        best = max(sentences, key=lambda s: sum(t in s[1] for t in terms), default=("", frozenset()))[0][:200]
        return " ".join(
            f"<em>{html.escape(w)}</em>" if stem(w) in terms else html.escape(w) for w in best.split()
        )

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(
                {
                    "users": list(self.users.values()),
                    "tickets": list(self.tickets.values()),
                    "comments": {str(k): v for k, v in self.comments.items()},
                    "audits": {str(k): v for k, v in self.audits.items()},
                    "articles": [{"id": a["id"], "title": a["title"]} for a in self.articles.values()],
                    "idempotency_keys": sorted(self.idempotency),
                }
            )


# --- the app -------------------------------------------------------------------------


def zendesk_error_body(status: int) -> dict[str, Any]:
    """Zendesk's bodies for injected faults and auth failures."""
    if status == 401:
        return {"error": "Couldn't authenticate you"}
    if status == 429:
        return {
            "error": "APIRateLimitExceeded",
            "description": "Number of allowed API requests per minute exceeded",
        }
    if status == 404:
        return {"error": "RecordNotFound", "description": "Not found"}
    if status >= 500:
        return {
            "error": "ServiceUnavailable",
            "description": f"The server answered {status}; try again later",
        }
    return {"error": "InvalidRequest", "description": f"Injected error {status}"}


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return JSONResponse({"error": "InvalidEndpoint", "description": "Not found"}, status_code=404)
    return JSONResponse(
        {"error": "InvalidRequest", "description": str(exc.detail)}, status_code=exc.status_code
    )


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"error": "InvalidValue", "description": str(exc.errors())}, status_code=400)


def _route(router: APIRouter, method: str, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `path.json` and `path`: Zendesk answers both."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        router.add_api_route(f"{path}.json", fn, methods=[method])
        router.add_api_route(path, fn, methods=[method], include_in_schema=False)
        return fn

    return register


def _with_url(request: Request, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"url": f"{mount_base(request)}/api/v2/{kind}/{obj['id']}.json", **obj}


def _render_article(request: Request, article: dict[str, Any]) -> dict[str, Any]:
    root = mount_base(request)
    return {
        "url": f"{root}/api/v2/help_center/en-us/articles/{article['id']}.json",
        "html_url": f"{root}/hc/en-us/articles/{article['id']}-{slugify(article['title'])}",
        **article,
    }


def _page_params(request: Request) -> tuple[int, int]:
    try:
        page = int(request.query_params.get("page", "1"))
        per_page = int(request.query_params.get("per_page", str(MAX_PER_PAGE)))
    except ValueError:
        raise ZendeskError(400, "InvalidPaginationParameter", "page and per_page must be integers") from None
    if page < 1 or per_page < 1:
        raise ZendeskError(400, "InvalidPaginationParameter", "page and per_page must be positive")
    return page, min(per_page, MAX_PER_PAGE)


# Zendesk refuses offset pagination past its first 10,000 records (use cursor pagination).
OFFSET_LIMIT = 10_000


def _cursor_page(request: Request, key: str, items: list[Any]) -> dict[str, Any]:
    """Zendesk's cursor pagination: `page[size]` (at most 100), `page[after]` from the last page's
    `meta.after_cursor`; `links.next` while `meta.has_more`."""
    raw = request.query_params.get("page[size]", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise ZendeskError(400, "InvalidPaginationParameter", "page[size] must be between 1 and 100")
    size, after = int(raw), request.query_params.get("page[after]")
    try:
        start = int(base64.urlsafe_b64decode(after.encode()).decode()) if after else 0
    except ValueError:
        raise ZendeskError(400, "InvalidPaginationParameter", "page[after] is not a cursor") from None
    end = min(start + size, len(items))
    more = end < len(items)
    cursor = base64.urlsafe_b64encode(str(end).encode()).decode()
    return {
        key: items[start:end],
        "meta": {"has_more": more, "after_cursor": cursor if more else None, "before_cursor": None},
        "links": {"next": str(request.url.include_query_params(**{"page[after]": cursor})) if more else None},
    }


def _paginate(request: Request, key: str, items: list[Any]) -> dict[str, Any]:
    page, per_page = _page_params(request)
    start = (page - 1) * per_page
    if start + per_page > OFFSET_LIMIT and len(items) > OFFSET_LIMIT:
        raise ZendeskError(
            400, "InvalidPaginationParameter", "offset pagination is limited to 10,000 records"
        )
    more = start + per_page < len(items)
    return {
        key: items[start : start + per_page],
        "next_page": str(request.url.include_query_params(page=page + 1)) if more else None,
        "previous_page": str(request.url.include_query_params(page=page - 1)) if page > 1 else None,
        "count": len(items),
    }


async def _body_of(request: Request, key: str) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise ZendeskError(400, "InvalidValue", "The request body is not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get(key), dict):
        raise ZendeskError(400, "InvalidValue", f"Expected a JSON object with a {key!r} object")
    return data[key]


def _principal(request: Request) -> str | None:
    return getattr(request.state, "principal", None)


users_router = APIRouter()
tickets_router = APIRouter()
help_center_router = APIRouter()

# users


@_route(users_router, "GET", "/api/v2/users/me")
async def me(request: Request) -> Any:
    state: HelpdeskState = request.app.state.helpdesk
    user_id = state.acting_user_id(_principal(request))
    if user_id is None:
        return {
            "user": {
                "id": None,
                "name": "Anonymous user",
                "email": "invalid@example.com",
                "role": "end-user",
            }
        }
    return {"user": _with_url(request, "users", state.users[user_id])}


@_route(users_router, "GET", "/api/v2/users/search")
async def search_users(request: Request) -> Any:
    state: HelpdeskState = request.app.state.helpdesk
    query = request.query_params.get("query") or request.query_params.get("external_id")
    if not query:
        raise ZendeskError(400, "InvalidValue", "query or external_id is required")
    users = [_with_url(request, "users", u) for u in state.search_users(query)]
    return _paginate(request, "users", users)


@_route(users_router, "GET", "/api/v2/users/{user_id:int}")
async def get_user(request: Request, user_id: int) -> Any:
    state: HelpdeskState = request.app.state.helpdesk
    with state._lock:
        user = copy.deepcopy(state.users.get(user_id))
    if user is None:
        raise not_found()
    return {"user": _with_url(request, "users", user)}


@_route(users_router, "GET", "/api/v2/users")
async def list_users(request: Request) -> Any:
    state: HelpdeskState = request.app.state.helpdesk
    with state._lock:
        users = [_with_url(request, "users", u) for u in copy.deepcopy(list(state.users.values()))]
    return _paginate(request, "users", users)


# tickets


@_route(tickets_router, "GET", "/api/v2/tickets")
async def list_tickets(request: Request) -> Any:
    state: HelpdeskState = request.app.state.helpdesk
    external_id = request.query_params.get("external_id")  # Zendesk: "Lists tickets by external id"
    with state._lock:
        found = [
            t for t in state.tickets.values() if external_id is None or t.get("external_id") == external_id
        ]
        tickets = [_with_url(request, "tickets", t) for t in copy.deepcopy(found)]
    return _paginate(request, "tickets", tickets)


@_route(tickets_router, "POST", "/api/v2/tickets")
async def create_ticket(request: Request) -> Any:
    state: HelpdeskState = request.app.state.helpdesk
    payload = await _body_of(request, "ticket")
    author = state.user_for_principal(_principal(request))
    # Anonymous requests (allowed when the simulator accepts any credentials) act as
    # the requester, like Zendesk's web form; API credentials act as their agent.
    if author is not None:
        author_id: int | None = author["id"]
    elif request.headers.get("authorization"):
        author_id = state.default_user_id
    else:
        author_id = None
    key = request.headers.get("idempotency-key")
    if key:
        body, hit = state.create_ticket_idempotent(key, payload, author_id=author_id)
        headers = {"x-idempotency-lookup": "hit" if hit else "miss"}
    else:
        ticket, audit = state.create_ticket(payload, author_id=author_id)
        body, headers = {"ticket": ticket, "audit": audit}, {}
    body = {**body, "ticket": _with_url(request, "tickets", body["ticket"])}
    location = body["ticket"]["url"]
    return JSONResponse(body, status_code=201, headers={**headers, "Location": location})


@_route(tickets_router, "GET", "/api/v2/tickets/{ticket_id:int}")
async def get_ticket(request: Request, ticket_id: int) -> Any:
    state: HelpdeskState = request.app.state.helpdesk
    return {"ticket": _with_url(request, "tickets", state.ticket(ticket_id))}


@_route(tickets_router, "PUT", "/api/v2/tickets/{ticket_id:int}")
async def update_ticket(request: Request, ticket_id: int) -> Any:
    state: HelpdeskState = request.app.state.helpdesk
    payload = await _body_of(request, "ticket")
    ticket, audit = state.update_ticket(
        ticket_id, payload, author_id=state.acting_user_id(_principal(request))
    )
    body: dict[str, Any] = {"ticket": _with_url(request, "tickets", ticket)}
    if audit is not None:
        body["audit"] = audit
    return body


@_route(tickets_router, "GET", "/api/v2/tickets/{ticket_id:int}/comments")
async def list_comments(request: Request, ticket_id: int) -> Any:
    state: HelpdeskState = request.app.state.helpdesk
    comments = state.ticket_comments(ticket_id)
    if request.query_params.get("sort_order") == "desc":
        comments.reverse()
    return _paginate(request, "comments", comments)


@_route(tickets_router, "GET", "/api/v2/tickets/{ticket_id:int}/audits")
async def list_audits(request: Request, ticket_id: int) -> Any:
    # Zendesk lists a ticket's audits oldest first and takes no sort_order; cursor pages
    # (page[size], page[after]) or offset pages (page, per_page), as its other lists.
    state: HelpdeskState = request.app.state.helpdesk
    audits = state.ticket_audits(ticket_id)
    if any(k.startswith("page[") for k in request.query_params):
        return _cursor_page(request, "audits", audits)
    return _paginate(request, "audits", audits)


@_route(tickets_router, "GET", "/api/v2/search")
async def search(request: Request) -> Any:
    state: HelpdeskState = request.app.state.helpdesk
    query = request.query_params.get("query", "").strip()
    if not query:
        raise ZendeskError(400, "InvalidValue", "query is required")
    results = state.search(query)
    rendered = [
        _with_url(request, "tickets" if r["result_type"] == "ticket" else "users", r) for r in results
    ]
    return {**_paginate(request, "results", rendered), "facets": None}


# help center


@_route(help_center_router, "GET", "/api/v2/help_center/articles/search")
async def search_articles(request: Request) -> Any:
    state: HelpdeskState = request.app.state.helpdesk
    query = request.query_params.get("query", "").strip()
    if not query:
        raise ZendeskError(400, "InvalidValue", "query is required")
    results = [_render_article(request, a) for a in state.search_articles(query)]
    page, per_page = _page_params(request)
    out = _paginate(request, "results", results)
    return {**out, "page": page, "per_page": per_page, "page_count": -(-len(results) // per_page)}


@_route(help_center_router, "GET", "/api/v2/help_center/articles")
async def list_articles(request: Request) -> Any:
    state: HelpdeskState = request.app.state.helpdesk
    with state._lock:
        articles = copy.deepcopy(list(state.articles.values()))
    return _paginate(request, "articles", [_render_article(request, a) for a in articles])


@_route(help_center_router, "GET", "/api/v2/help_center/articles/{article_id:int}")
async def get_article(request: Request, article_id: int) -> Any:
    state: HelpdeskState = request.app.state.helpdesk
    with state._lock:
        article = copy.deepcopy(state.articles.get(article_id))
    if article is None:
        raise not_found()
    return {"article": _render_article(request, article)}


@help_center_router.get("/hc/{locale}/articles/{slug}", include_in_schema=False)
async def article_page(locale: str, slug: str, request: Request) -> Response:
    """The public page an article's html_url points to, so links in drafts open."""
    state: HelpdeskState = request.app.state.helpdesk
    match = re.match(r"\d+", slug)
    with state._lock:
        article = copy.deepcopy(state.articles.get(int(match.group())) if match else None)
    if article is None:
        return HTMLResponse("<h1>Page not found</h1>", status_code=404)
    title = html.escape(article["title"])
    return HTMLResponse(
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title></head>"
        f"<body><main><h1>{title}</h1>{article['body']}</main></body></html>"
    )


def create_app(
    state: HelpdeskState | None = None,
    *,
    seed: bool = True,
    auth: SimulatorAuth | None = None,
    faults: Faults | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> FastAPI:
    """A Zendesk-shaped ASGI app. `seed` fills an empty state with the demo data; `auth`
    sets the accepted credentials (default: anything); the state, faults and auth are
    also on `app.state` for in-process tests."""
    state = state if state is not None else HelpdeskState()
    if seed and not state.users:
        seed_data.seed(state)
    faults = faults or Faults()
    auth = auth or SimulatorAuth()
    app = simulator_app(
        "Helpdesk simulator (Zendesk Support API v2)",
        state_name="helpdesk",
        state=state,
        faults=faults,
        auth=auth,
        error_body=zendesk_error_body,
        sleep=sleep,
        error_type=ZendeskError,
    )
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for router in (users_router, tickets_router, help_center_router):
        app.include_router(router)
    return app


def _agent_touch(
    new: dict[str, Any], payload: dict[str, Any], agent: dict[str, Any], *, commented: bool
) -> None:
    """What Zendesk does on its own when an agent updates a ticket: a new ticket the agent
    comments on or assigns opens, and a solved one with no assignee goes to the solver."""
    if "status" not in payload and new["status"] == "new" and (commented or new["assignee_id"]):
        new["status"] = "open"
    if new["status"] == "solved" and new["assignee_id"] is None:
        new["assignee_id"] = agent["id"]
