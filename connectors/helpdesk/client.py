"""The help-desk connector, speaking the Zendesk Support API v2.

`base_url` is the Zendesk instance root (`https://acme.zendesk.com`, or the demo's
`http://127.0.0.1:8000/sim/helpdesk`); paths are `/api/v2/...`. Auth, retries and
rate limits come with the client (see `connectors.http`).

Writes are exactly-once across retries and crashes: Zendesk honours
`Idempotency-Key` only on ticket creation, so comments and ticket updates carry the
action's key in the audit's custom metadata and look for it before writing again
(check-then-write). The comment PUT is also marked `NOT_IDEMPOTENT`, so the HTTP
layer never repeats it on its own after the request may have landed.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from functools import lru_cache
from html.parser import HTMLParser
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urljoin, urlsplit

import httpx
from pydantic import Field

from connectors.base import Connector, ConnectorError, Facts, Message, about, objects, operation, tried_before
from connectors.helpdesk import webhooks
from connectors.http import NOT_IDEMPOTENT
from connectors.webhooks import WebhookEvent

Priority = Literal["low", "normal", "high", "urgent"]
Status = Literal["open", "pending", "hold", "solved"]

# --- html to text --------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "div",
        "dl",
        "dt",
        "dd",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tr",
        "ul",
    ]
)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hrefs: list[str] = []  # where the markup's links point, as written
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a" and not self._skip:
            self.hrefs += [v.strip() for k, v in attrs if k == "href" and v and v.strip()]
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag == "br" or tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in ("td", "th"):
            self.parts.append("\t")
        elif tag in _BLOCK_TAGS and tag != "tr":  # rows stay on consecutive lines
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Readable plain text from HTML: paragraphs kept, list items as '- ', table cells
    joined with ' | ', entities decoded, scripts and styles dropped."""
    return _parsed(markup)[0] if len(markup) <= _REMEMBERED_CHARS else _parse(markup)[0]


# A help center's articles come back in search after search, ticket after ticket: each
# article's markup is parsed once (its text and its links), not on every read.
_REMEMBERED_CHARS = 65_536


def _parse(markup: str) -> tuple[str, tuple[str, ...]]:
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    lines: list[str] = []
    for raw in "".join(parser.parts).splitlines():
        cells = [" ".join(cell.split()) for cell in raw.split("\t")]
        line = " | ".join(c for c in cells if c)
        if line or (lines and lines[-1]):
            lines.append(line)
    return "\n".join(lines).strip(), tuple(parser.hrefs)


_parsed = lru_cache(maxsize=1024)(_parse)


def article_links(markup: str, page: str | None) -> list[str]:
    """The web links an article's author made (`<a href>`), absolute: a relative one is on the
    Help Center that serves the article (`page`, its html_url). URLs written as plain text are
    not among them."""
    hrefs = _parsed(markup)[1] if len(markup) <= _REMEMBERED_CHARS else _parse(markup)[1]
    out: list[str] = []
    for href in hrefs:
        url = urljoin(page or "", href)
        if url.startswith(("http://", "https://")) and url not in out:
            out.append(url)
    return out


def _name_from_email(email: str) -> str:
    local = email.split("@", 1)[0]
    return " ".join(part.capitalize() for part in re.split(r"[._+-]+", local) if part) or email


# --- the connector -------------------------------------------------------------------


class HelpdeskConnector(Connector):
    """Zendesk Support: tickets, comments, users and Help Center articles."""

    kind: ClassVar[str] = "helpdesk"
    description: ClassVar[str] = "Zendesk Support help desk: tickets, comments, users, Help Center articles."

    ACTION_KEY: ClassVar[str] = "switchboard_action_id"  # audit metadata.custom key carrying the action id
    MAX_PAGES: ClassVar[int] = 20  # pagination safety net (100 items a page)
    AUDIT_PAGES: ClassVar[int] = 100  # a retry reads a ticket's audits this far looking for itself
    SEARCH_RESULTS: ClassVar[int] = 25
    ARTICLE_CHARS: ClassVar[int] = 4000

    default_label: ClassVar[str] = "Zendesk"
    events: ClassVar[tuple[str, ...]] = ("ticket.created",)

    @classmethod
    def verify_webhook(
        cls, body: bytes, headers: Mapping[str, str], secret: str, *, method: str = "POST", url: str = ""
    ) -> None:
        """`X-Zendesk-Webhook-Signature`: base64 HMAC-SHA256 over timestamp + body, recent timestamp."""
        webhooks.verify_headers(body, headers, secret)

    @classmethod
    def parse_webhook(cls, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """A new ticket goes to triage; other events are recorded."""
        return webhooks.parse(body)

    @classmethod
    def facts(cls, data: Any) -> Facts:
        """The Help Center's links, from the articles `search_articles` returns: each article's
        page and the links its author put in it (an agent publishes articles; customers write
        tickets and comments, whose text links nowhere a reply may point)."""
        links: list[str] = []
        for node in objects(data):
            if isinstance(node.get("html_url"), str) and isinstance(node.get("links"), list):
                links += [u for u in node["links"] if isinstance(u, str) and u not in links]
        return {"links": links} if links else {}

    # --- plumbing ---

    async def _json(self, method: str, url: str, *, what: str = "", **kwargs: Any) -> Any:
        return self.json_body(await self.send(method, url, what=what, **kwargs))

    def error(self, response: httpx.Response, what: str = "") -> ConnectorError:
        """Zendesk's own words: `{"error": "RecordNotFound", "description": "Not found"}`,
        plus any per-field `details` of a 422."""
        status = response.status_code
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        parts: list[str] = []
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict):  # Help Center shape: {"error": {"title", "message"}}
                parts += [str(error[k]) for k in ("title", "message") if error.get(k)]
            elif error:
                parts.append(str(error))
            if body.get("description"):
                parts.append(str(body["description"]))
            details = body.get("details")
            if isinstance(details, dict):
                for problems in details.values():
                    for problem in problems if isinstance(problems, list) else [problems]:
                        text = problem.get("description") if isinstance(problem, dict) else problem
                        if text:
                            parts.append(str(text))
            for err in body.get("errors") or []:
                if isinstance(err, dict) and (err.get("title") or err.get("detail")):
                    parts.append(str(err.get("detail") or err.get("title")))
        elif response.text.strip():
            parts.append(" ".join(response.text.split())[:200])
        detail = ": ".join(dict.fromkeys(parts)) or response.reason_phrase
        if status == 401:
            message = (
                f"{self.label} rejected the credentials (401: {detail}); "
                "check the connection's email and API token or OAuth token"
            )
        elif status == 403:
            message = f"{self.label} refused access (403: {detail}); the account lacks permission for this"
        else:
            message = f"{self.label} answered {status}: {detail}{about(what)}"
        retryable = status in (408, 409, 425, 429) or status >= 500
        return ConnectorError(message, status=status, retryable=retryable)

    def _same_origin(self, url: str) -> bool:
        """Only follow pagination links to the instance we were configured for, so
        credentials never travel to another host."""
        a, b = urlsplit(url), urlsplit(str(self.client.base_url))
        return (a.scheme, a.netloc) == (b.scheme, b.netloc)

    async def _all_pages(
        self, url: str, key: str, *, params: dict[str, Any] | None = None, what: str = ""
    ) -> list[Any]:
        items: list[Any] = []
        next_url: str | None = url
        first = True
        for _ in range(self.MAX_PAGES):
            if next_url is None:
                break
            data = await self._json("GET", next_url, params=params if first else None, what=what)
            first = False
            items.extend(data.get(key) or [])
            candidate = data.get("next_page")
            next_url = candidate if isinstance(candidate, str) and self._same_origin(candidate) else None
        return items

    async def _audit_with_key(self, ticket_id: int, key: str) -> dict[str, Any] | None:
        """The audit an earlier attempt with this key left, if any. Zendesk lists a ticket's audits
        oldest first only (no sort_order); they are read by cursor (`page[size]`, `links.next`
        while `meta.has_more`) and checked page by page to the end. Past AUDIT_PAGES pages the
        earlier attempt cannot be ruled out: the write is refused rather than made blind."""
        next_url: str | None = f"/api/v2/tickets/{ticket_id}/audits.json"
        params: dict[str, Any] | None = {"page[size]": 100}
        for _ in range(self.AUDIT_PAGES):
            data = await self._json("GET", next_url or "", params=params, what=f"ticket {ticket_id}")
            params = None
            for audit in data.get("audits") or []:
                custom = ((audit.get("metadata") or {}).get("custom")) or {}
                if isinstance(custom, dict) and custom.get(self.ACTION_KEY) == key:
                    return audit
            links, meta = data.get("links") or {}, data.get("meta") or {}
            if meta.get("has_more"):  # more to read: by its link, else by its cursor, else refuse
                candidate = links.get("next")
                if isinstance(candidate, str) and self._same_origin(candidate):
                    next_url = candidate
                elif isinstance(meta.get("after_cursor"), str) and meta["after_cursor"]:
                    params = {"page[size]": 100, "page[after]": meta["after_cursor"]}
                else:
                    break
                continue
            candidate = data.get("next_page")  # offset pages: a next page, or the end
            if not (isinstance(candidate, str) and self._same_origin(candidate)):
                return None
            next_url = candidate
        raise ConnectorError(
            f"{self.label}: ticket {ticket_id}'s audits could not all be read (more than "
            f"{self.AUDIT_PAGES * 100}, or a next page with no way to it); an earlier attempt of this "
            "write cannot be ruled out, so it is not made again: check the ticket, then dismiss or retry it",
            retryable=False,
        )

    @staticmethod
    def _external_id(key: str) -> str:
        return f"switchboard:{key}"

    async def _ticket_with_key(self, key: str) -> dict[str, Any] | None:
        """The ticket a create_ticket with this key opened: Zendesk lists tickets by external id."""
        data = await self._json("GET", "/api/v2/tickets.json", params={"external_id": self._external_id(key)})
        return next(iter(data.get("tickets") or []), None)

    def _metadata(self, key: str | None) -> dict[str, Any]:
        # Zendesk keeps what is sent in `ticket.metadata` as the audit's `metadata.custom`,
        # so the key is sent at the top level and found at audit.metadata.custom[ACTION_KEY].
        return {"metadata": {self.ACTION_KEY: key}} if key else {}

    # --- reads ---

    @operation(effect="read")
    async def get_ticket(self, ticket_id: int) -> dict[str, Any]:
        """Fetch one ticket: subject, description (the customer's first message), status, priority,
        tags, requester and assignee ids. Use list_comments for the whole conversation."""
        data = await self._json("GET", f"/api/v2/tickets/{ticket_id}.json", what=f"ticket {ticket_id}")
        ticket: dict[str, Any] = data["ticket"]
        return ticket

    @operation(effect="read")
    async def list_comments(self, ticket_id: int) -> list[dict[str, Any]]:
        """List a ticket's conversation, oldest first: each comment's author id, body, public flag
        and time. Comments with public=false are internal notes the customer never saw."""
        return await self._all_pages(
            f"/api/v2/tickets/{ticket_id}/comments.json", "comments", what=f"ticket {ticket_id}"
        )

    @operation(effect="read")
    async def search_tickets(self, query: str) -> list[dict[str, Any]]:
        """Search tickets with Zendesk search syntax, e.g. 'refund status:open',
        'tags:billing priority>normal', 'requester:dana@example.com'. Returns up to 25 tickets."""
        query = re.sub(r"(^|\s)-?type:\S+", " ", query).strip()
        data = await self._json(
            "GET",
            "/api/v2/search.json",
            params={"query": f"type:ticket {query}".strip(), "per_page": self.SEARCH_RESULTS},
        )
        results = [r for r in data.get("results") or [] if r.get("result_type", "ticket") == "ticket"]
        return results[: self.SEARCH_RESULTS]

    @operation(effect="read")
    async def find_user(self, email: str) -> dict[str, Any] | None:
        """Look up a help-desk user (customer or agent) by exact email address; null if there is none."""
        data = await self._json("GET", "/api/v2/users/search.json", params={"query": email.strip()})
        wanted = email.strip().lower()
        for user in data.get("users") or []:
            if str(user.get("email") or "").lower() == wanted:
                found: dict[str, Any] = user
                return found
        return None

    @operation(effect="read")
    async def get_user(self, user_id: int) -> dict[str, Any]:
        """Fetch one help-desk user by id (a ticket's requester_id or assignee_id): name, email, role."""
        data = await self._json("GET", f"/api/v2/users/{user_id}.json", what=f"user {user_id}")
        user: dict[str, Any] = data["user"]
        return user

    @operation(effect="read")
    async def search_articles(
        self, query: str, limit: Annotated[int, Field(ge=1, le=10)] = 3
    ) -> list[dict[str, Any]]:
        """Search the Help Center knowledge base for policy and how-to articles; returns the best
        matches as plain text with the html_url to cite in a reply."""
        data = await self._json(
            "GET", "/api/v2/help_center/articles/search.json", params={"query": query, "per_page": limit}
        )
        out = []
        for article in (data.get("results") or [])[:limit]:
            markup = article.get("body") or ""
            body = html_to_text(markup)
            if len(body) > self.ARTICLE_CHARS:
                body = body[: self.ARTICLE_CHARS].rstrip() + " …"
            out.append(
                {
                    "id": article.get("id"),
                    "title": article.get("title"),
                    "body": body,
                    "html_url": article.get("html_url"),
                    # where the article's own links point (its text keeps only their words)
                    "links": article_links(markup, article.get("html_url")),
                }
            )
        return out

    # --- writes ---

    @operation(
        effect="write", idempotency="check", message=Message("public", ("body",), public_flag="public")
    )
    async def add_comment(
        self, ticket_id: int, body: str, public: bool = True, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Add a comment to a ticket: public replies are emailed to the customer, private ones are internal notes for agents."""
        if not body.strip():
            raise ConnectorError("the comment body is empty")
        if idempotency_key and tried_before():
            earlier = await self._audit_with_key(ticket_id, idempotency_key)
            if earlier is not None:
                return self._comment_result(ticket_id, earlier, deduplicated=True)
        payload = {"ticket": {"comment": {"body": body, "public": public}, **self._metadata(idempotency_key)}}
        data = await self._json(
            "PUT",
            f"/api/v2/tickets/{ticket_id}.json",
            json=payload,
            extensions=NOT_IDEMPOTENT,  # Zendesk adds a comment per PUT: never resend blindly
            what=f"ticket {ticket_id}",
        )
        return self._comment_result(ticket_id, data.get("audit") or {}, deduplicated=False)

    @staticmethod
    def _comment_result(ticket_id: int, audit: dict[str, Any], *, deduplicated: bool) -> dict[str, Any]:
        comment_id = next(
            (e.get("id") for e in audit.get("events") or [] if e.get("type") == "Comment"), None
        )
        return {
            "ticket_id": ticket_id,
            "comment_id": comment_id,
            "audit_id": audit.get("id"),
            "deduplicated": deduplicated,
        }

    @operation(effect="write", idempotency="check", reversible=True)
    async def update_ticket(
        self,
        ticket_id: int,
        priority: Priority | None = None,
        status: Status | None = None,
        add_tags: list[str] | None = None,
        assignee_email: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Set a ticket's priority, status or assignee (an agent's email) and/or add tags (existing
        tags are kept); give at least one."""
        fields: dict[str, Any] = {}
        if priority is not None:
            fields["priority"] = priority
        if status is not None:
            fields["status"] = status
        if add_tags:
            fields["additional_tags"] = list(add_tags)
        if assignee_email:
            fields["assignee_email"] = assignee_email
        if not fields:
            raise ConnectorError(
                "update_ticket needs at least one of priority, status, add_tags, assignee_email"
            )
        what = f"ticket {ticket_id}"
        if idempotency_key and tried_before():
            earlier = await self._audit_with_key(ticket_id, idempotency_key)
            if earlier is not None:
                current = await self._json("GET", f"/api/v2/tickets/{ticket_id}.json", what=what)
                return self._update_result(ticket_id, current["ticket"], earlier, deduplicated=True)
        payload = {"ticket": {**fields, **self._metadata(idempotency_key)}}
        data = await self._json("PUT", f"/api/v2/tickets/{ticket_id}.json", json=payload, what=what)
        return self._update_result(ticket_id, data["ticket"], data.get("audit"), deduplicated=False)

    @staticmethod
    def _update_result(
        ticket_id: int, ticket: dict[str, Any], audit: dict[str, Any] | None, *, deduplicated: bool
    ) -> dict[str, Any]:
        events = (audit or {}).get("events") or []
        return {
            "ticket_id": ticket_id,
            "audit_id": (audit or {}).get("id"),
            "changed": [e.get("field_name") for e in events if e.get("type") == "Change"],
            "ticket": {k: ticket.get(k) for k in ("status", "priority", "tags", "assignee_id")},
            "deduplicated": deduplicated,
        }

    @operation(effect="write", idempotency="key", message=Message("public", ("subject", "body")))
    async def create_ticket(
        self,
        subject: str,
        body: str,
        requester_email: str,
        priority: Priority | None = None,
        tags: list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Open a new ticket on behalf of a customer (created if unknown), with body as its first comment."""
        if idempotency_key and tried_before():
            # Zendesk forgets the Idempotency-Key after two hours: a resumed action looks for the
            # ticket its key named first.
            earlier = await self._ticket_with_key(idempotency_key)  # ours, however retitled since
            if earlier is not None:
                return {"ticket_id": earlier["id"], "audit_id": None, "ticket": earlier, "deduplicated": True}
        ticket: dict[str, Any] = {
            "subject": subject,
            "comment": {"body": body},
            "requester": {"email": requester_email, "name": _name_from_email(requester_email)},
        }
        if priority is not None:
            ticket["priority"] = priority
        if tags:
            ticket["tags"] = list(tags)
        ticket.update(self._metadata(idempotency_key))
        if idempotency_key:
            ticket["external_id"] = self._external_id(idempotency_key)
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        response = await self.send("POST", "/api/v2/tickets.json", json={"ticket": ticket}, headers=headers)
        try:
            data = response.json()
        except ValueError as exc:
            raise ConnectorError(
                f"{self.label} created a ticket but answered with a body that is not JSON"
            ) from exc
        created = data["ticket"]
        return {
            "ticket_id": created["id"],
            "audit_id": (data.get("audit") or {}).get("id"),
            "ticket": created,
            "deduplicated": response.headers.get("x-idempotency-lookup") == "hit",
        }

    def live_checks(self) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
        async def audits() -> Any:
            found = await self.search_tickets("status<solved")
            if not found:
                return "no open ticket to read audits from"
            ticket_id = int(found[0]["id"])
            await self.list_comments(ticket_id)
            return await self._audit_with_key(ticket_id, "switchboard-live-check")  # expects none

        return [
            ("check", self.check),
            ("search_tickets", lambda: self.search_tickets("status<solved")),
            ("audits", audits),
            ("search_articles", lambda: self.search_articles("refund", limit=1)),
        ]

    async def check(self) -> dict[str, Any]:
        """GET users/me: proves the URL and credentials work, and says who we act as."""
        data = await self._json("GET", "/api/v2/users/me.json")
        user = data.get("user") or {}
        if user.get("id") is None:  # Zendesk answers anonymous requests with an anonymous user
            raise ConnectorError(
                f"{self.label} treated the request as anonymous; check the credentials", status=401
            )
        return {"ok": True, "user": {k: user.get(k) for k in ("id", "name", "email", "role")}}
