"""The team-chat connector, speaking Slack's Web API.

`base_url` is the API root without `/api` (`https://slack.com`, or the demo's
`http://127.0.0.1:8000/sim/chat`); methods are `/api/<method>`. The client carries a
bot token (`BearerAuth("xoxb-...")`).

Slack answers HTTP 200 even when a call failed: the verdict is the body's `ok`,
and `{"ok": false, "error": "channel_not_found"}` becomes a `SlackError` (a
ConnectorError) carrying that code. Only rate limiting is an HTTP 429 with
Retry-After, which the HTTP layer honours before giving up.

Reads are GETs with query parameters, so the HTTP layer may repeat them on a 5xx;
`chat.postMessage` is a JSON POST, which it never repeats on its own. Slack has
no idempotency key, so a post that carries an action id is check-then-write: the
id rides in Slack's message metadata (`event_type: switchboard_action`) and the
channel's recent history (or the thread) is searched for it before posting again,
in one call of at most 15 messages from the last day, which Slack's limits for
apps outside its Marketplace (one history call a minute) allow.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, ClassVar

import httpx
from pydantic import Field

from connectors import webhooks
from connectors.base import (
    Connector,
    ConnectorError,
    Message,
    about,
    not_written_before,
    operation,
    transport_error,
    tried_before,
)
from connectors.chat import signing

# Plain words for the error codes a model or a person is likely to meet.
ERROR_HINTS: dict[str, str] = {
    "channel_not_found": "no such channel, or the bot cannot see it",
    "not_in_channel": "the bot is not a member of that channel; invite it with /invite @switchboard",
    "is_archived": "the channel is archived",
    "no_text": "the message has no text",
    "msg_too_long": "the message is longer than Slack's 40,000 characters",
    "users_not_found": "no user with that email address",
    "user_not_found": "no such user",
    "thread_not_found": "no message with that thread_ts in the channel",
    "message_not_found": "no such message",
    "not_authed": "no token was sent; check the connection's bot token",
    "invalid_auth": "Slack rejected the token; check the connection's bot token",
    "account_inactive": "the token belongs to a deleted user or an uninstalled app",
    "token_revoked": "the token was revoked; reinstall the app",
    "token_expired": "the token expired; refresh or reinstall",
    "missing_scope": "the token lacks a permission scope",
    "ratelimited": "Slack is rate limiting this app",
    "invalid_cursor": "the pagination cursor is not valid",
    "invalid_metadata_format": "the message metadata is not valid JSON",
    "invalid_metadata_schema": "the message metadata does not have event_type and event_payload",
}
RETRYABLE_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
AUTH_ERRORS = frozenset({"not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired"})

_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")


class SlackError(ConnectorError):
    """Slack said `ok: false`; `code` is its error string (e.g. "channel_not_found")."""

    def __init__(self, code: str, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message, status=status, retryable=retryable)
        self.code = code


class ChatConnector(Connector):
    """Slack: channels, people, channel history, and posting messages as the bot."""

    kind: ClassVar[str] = "chat"
    description: ClassVar[str] = (
        "Slack team chat: channels, people by email, recent messages, posting as the bot."
    )

    EVENT_TYPE: ClassVar[str] = "switchboard_action"  # message metadata event_type carrying the action id
    PAGE_SIZE: ClassVar[int] = 200  # Slack's recommended page size for cursor pagination
    MAX_PAGES: ClassVar[int] = 20  # pagination safety net
    # Check-then-write reads pages of 15: Slack allows apps outside the Marketplace one
    # conversations.history/replies call a minute, of at most 15 messages
    # (docs.slack.dev/apis/web-api/rate-limits). History (newest first) and a thread (oldest
    # first) are read back to the first attempt, at most DEDUP_PAGES pages: a busy channel pushes
    # the earlier post off the first page. Past that, an earlier post cannot be ruled out and the
    # write goes to a person instead of being posted blind.
    DEDUP_MESSAGES: ClassVar[int] = 15
    DEDUP_PAGES: ClassVar[int] = 4
    # Slack's clock and ours may differ: the scan starts this long before the first attempt.
    CLOCK_SKEW: ClassVar[float] = 300.0
    DEDUP_LOOKBACK: ClassVar[float] = 24 * 3600  # seconds back, when the first attempt's time is unknown
    MAX_TEXT: ClassVar[int] = 40_000

    default_label: ClassVar[str] = "Slack"
    events: ClassVar[tuple[str, ...]] = ("message",)

    @classmethod
    def verify_webhook(
        cls, body: bytes, headers: Mapping[str, str], secret: str, *, method: str = "POST", url: str = ""
    ) -> None:
        """Slack's v0 signing: HMAC-SHA256 over `"v0:{timestamp}:{body}"`, five minutes' tolerance."""
        signing.verify_headers(body, headers, secret)

    @classmethod
    def parse_webhook(cls, body: bytes, headers: Mapping[str, str]) -> webhooks.WebhookEvent:
        """An Events API delivery. The URL check when the endpoint is set up is answered with
        its challenge. Other events are recorded by type only: they start nothing, since a
        message event also fires for the bot's own posts and a workflow on it would feed itself."""
        payload = webhooks.json_object(body)
        if payload.get("type") == "url_verification":
            return webhooks.WebhookEvent("url_verification", reply={"challenge": payload.get("challenge")})
        inner = webhooks.object_at(payload.get("event"), "event")
        return webhooks.WebhookEvent(str(inner.get("type") or payload.get("type")))

    clock: Callable[[], float] = staticmethod(time.time)  # wall clock for `oldest`; tests swap it

    # --- plumbing ---

    async def _api(
        self, method: str, args: dict[str, Any] | None = None, *, write: bool = False, what: str = ""
    ) -> dict[str, Any]:
        """Call one Web API method and return its body if `ok`; raise SlackError otherwise."""
        url = f"/api/{method}"
        try:
            if write:
                response = await self.client.post(
                    url, json=args or {}, headers={"Content-Type": "application/json; charset=utf-8"}
                )
            else:
                params = {k: _param(v) for k, v in (args or {}).items() if v is not None}
                response = await self.client.get(url, params=params)
        except httpx.TransportError as exc:
            raise transport_error(exc, self.label, doing=method, what=what) from exc
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        status = response.status_code
        if status == 429:
            retry_after = response.headers.get("retry-after")
            wait = f"; retry after {retry_after} s" if retry_after else ""
            raise SlackError(
                "ratelimited",
                f"{self.label} answered ratelimited: {ERROR_HINTS['ratelimited']}{wait}{about(what)}",
                status=429,
                retryable=True,
            )
        if isinstance(body, dict) and body.get("ok") is True and response.is_success:
            return body
        if isinstance(body, dict) and body.get("error"):
            raise self._error(str(body["error"]), body, status, what)
        detail = " ".join(response.text.split())[:200] if response.text.strip() else response.reason_phrase
        raise ConnectorError(
            f"{self.label} answered {status} to {method} without a Slack answer: {detail}{about(what)}",
            status=status,
            retryable=status >= 500,
        )

    def _error(self, code: str, body: dict[str, Any], status: int, what: str) -> SlackError:
        hint = ERROR_HINTS.get(code, "")
        if code == "missing_scope" and body.get("needed"):
            hint = f"{hint} (needed: {body['needed']})"
        details = (body.get("response_metadata") or {}).get("messages") or []
        parts = [p for p in [hint, *[str(d) for d in details]] if p]
        message = f"{self.label} answered {code}" + (f": {'; '.join(parts)}" if parts else "") + about(what)
        retryable = code in RETRYABLE_ERRORS or status >= 500
        return SlackError(code, message, status=401 if code in AUTH_ERRORS else status, retryable=retryable)

    async def _pages(
        self,
        method: str,
        key: str,
        args: dict[str, Any],
        *,
        limit: int | None = None,
        max_pages: int | None = None,
        page_size: int | None = None,
        what: str = "",
    ) -> list[dict[str, Any]]:
        """Follow `response_metadata.next_cursor` until `limit` items or the last page."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        size = page_size or self.PAGE_SIZE
        for _ in range(max_pages or self.MAX_PAGES):
            want = size if limit is None else min(size, limit - len(items))
            body = await self._api(method, {**args, "limit": want, "cursor": cursor}, what=what)
            items.extend(body.get(key) or [])
            cursor = (body.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None or (limit is not None and len(items) >= limit):
                break
        return items if limit is None else items[:limit]

    async def _all_channels(self) -> list[dict[str, Any]]:
        return await self._pages(
            "conversations.list",
            "channels",
            {"types": "public_channel,private_channel", "exclude_archived": True},
        )

    async def _resolve_channel(self, channel: str) -> dict[str, Any]:
        """{"id", "name"} for "#billing", "billing" or an id like "C05BILLING1"."""
        ref = channel.strip()
        if not ref:
            raise ConnectorError("channel is empty; give a name like #billing or a channel id")
        if not ref.startswith("#") and _CHANNEL_ID.match(ref):
            return {"id": ref, "name": None}
        name = ref.lstrip("#").strip().lower()
        channels = await self._all_channels()
        for candidate in channels:
            if str(candidate.get("name", "")).lower() == name:
                return {"id": candidate["id"], "name": candidate["name"]}
        known = ", ".join(f"#{c['name']}" for c in channels[:30])
        raise SlackError(
            "channel_not_found",
            f"{self.label} has no channel named #{name} that the bot can see"
            + (f"; known: {known}" if known else ""),
        )

    async def _user_names(self, user_ids: list[str]) -> dict[str, str]:
        """Real names for the authors of a page of messages: users.info per distinct author (a
        handful), rather than paging through users.list of a workspace that may have thousands."""

        async def one(user_id: str) -> tuple[str, str | None]:
            try:
                user = (await self._api("users.info", {"user": user_id})).get("user") or {}
            except SlackError:
                return user_id, None  # a name is a nicety; the message is still worth showing
            return user_id, user.get("real_name") or user.get("name")

        pairs = await asyncio.gather(*(one(u) for u in dict.fromkeys(user_ids)))
        return {user_id: name for user_id, name in pairs if name}

    async def _find_action(self, channel_id: str, key: str, thread_ts: str | None) -> dict[str, Any] | None:
        """The message an earlier attempt of this action posted, if any. Thread replies do not
        appear in conversations.history, so a reply is looked for in its thread."""
        what = f"checking channel {channel_id} for an earlier post"
        # Back to the first attempt when it is known (a person may retry days later: the page
        # limit keeps the scan short, not the window); else a day back.
        if (proposed := not_written_before()) is not None:  # no attempt went out before the first
            oldest = proposed - self.CLOCK_SKEW
        else:
            oldest = self.clock() - float(self.config.get("dedup_lookback_seconds", self.DEDUP_LOOKBACK))
        args: dict[str, Any] = {
            "channel": channel_id,
            "include_all_metadata": True,
            "limit": int(self.config.get("dedup_messages", self.DEDUP_MESSAGES)),
            "oldest": f"{max(0.0, oldest):.6f}",
        }
        # A thread's replies (oldest first) or the channel's history (newest first), all of it
        # since `oldest`: a busy channel pushes an earlier post off the first page.
        method, extra = (
            ("conversations.replies", {"ts": thread_ts}) if thread_ts else ("conversations.history", {})
        )
        pages = int(self.config.get("dedup_pages", self.DEDUP_PAGES))
        found: dict[str, Any] | None = None
        cursor: str | None = None
        for _ in range(pages):  # each page checked as it comes: a found post ends the scan
            body = await self._api(method, {**args, **extra, "cursor": cursor}, what=what)
            found = next((m for m in body.get("messages") or [] if self._carries(m, key)), None)
            cursor = (body.get("response_metadata") or {}).get("next_cursor") or None
            if found is not None or cursor is None:
                break
        if found is None and cursor is not None:
            raise ConnectorError(
                f"{self.label}: channel {channel_id} has more than {pages} pages of messages since this "
                "action's first attempt; an earlier post cannot be ruled out, so it is not posted again: "
                "check the channel, then dismiss or retry it",
                retryable=False,
            )
        return found

    def _carries(self, message: dict[str, Any], key: str) -> bool:
        """Whether `message` is the post of the action keyed `key` (its metadata says so)."""
        metadata = message.get("metadata") or {}
        payload = metadata.get("event_payload") or {}
        return metadata.get("event_type") == self.EVENT_TYPE and payload.get("action_id") == key

    async def _permalink(self, channel_id: str, ts: str) -> str | None:
        """Best effort: the post already happened, so a failure here must not fail the write."""
        try:
            body = await self._api("chat.getPermalink", {"channel": channel_id, "message_ts": ts})
        except ConnectorError:
            return None
        link = body.get("permalink")
        return str(link) if link else None

    # --- reads ---

    @operation(effect="read")
    async def list_channels(self, limit: Annotated[int, Field(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        """List the workspace's channels the bot can see (archived ones left out): id, name, whether
        the bot is a member (it can only post where it is), topic, purpose and member count."""
        channels = await self._pages(
            "conversations.list",
            "channels",
            {"types": "public_channel,private_channel", "exclude_archived": True},
            limit=limit,
        )
        return [
            {
                "id": c.get("id"),
                "name": c.get("name"),
                "is_private": c.get("is_private", False),
                "is_member": c.get("is_member", False),
                "topic": (c.get("topic") or {}).get("value", ""),
                "purpose": (c.get("purpose") or {}).get("value", ""),
                "num_members": c.get("num_members"),
            }
            for c in channels
        ]

    @operation(effect="read")
    async def lookup_user(self, email: str) -> dict[str, Any] | None:
        """Find a workspace member by exact email address: id (for <@id> mentions), name, title,
        time zone; null if nobody in the workspace has that email."""
        try:
            body = await self._api("users.lookupByEmail", {"email": email.strip()}, what=email.strip())
        except SlackError as exc:
            if exc.code == "users_not_found":
                return None
            raise
        user = body.get("user") or {}
        profile = user.get("profile") or {}
        return {
            "id": user.get("id"),
            "name": user.get("name"),
            "real_name": user.get("real_name") or profile.get("real_name"),
            "display_name": profile.get("display_name"),
            "email": profile.get("email"),
            "title": profile.get("title"),
            "tz": user.get("tz"),
            "is_bot": user.get("is_bot", False),
            "deleted": user.get("deleted", False),
            "mention": f"<@{user.get('id')}>",
        }

    @operation(effect="read")
    async def channel_history(
        self, channel: str, limit: Annotated[int, Field(ge=1, le=200)] = 20
    ) -> dict[str, Any]:
        """Read a channel's most recent messages, newest first (channel as #name or id): who said what
        and when, with thread reply counts. Replies inside threads are not included."""
        target = await self._resolve_channel(channel)
        messages = await self._pages(
            "conversations.history",
            "messages",
            {"channel": target["id"]},
            limit=limit,
            what=f"channel {channel}",
        )
        names = await self._user_names([str(m["user"]) for m in messages if m.get("user")])
        out = []
        for m in messages:
            item: dict[str, Any] = {
                "ts": m.get("ts"),
                "user": m.get("user"),
                "user_name": names.get(str(m.get("user"))) or (m.get("bot_profile") or {}).get("name"),
                "text": m.get("text", ""),
            }
            if m.get("bot_id"):
                item["bot"] = True
            if m.get("reply_count"):
                item["thread_ts"] = m.get("thread_ts")
                item["reply_count"] = m["reply_count"]
            out.append(item)
        return {"channel": target, "messages": out}

    # --- writes ---

    @operation(effect="write", idempotency="check", message=Message("team", ("text",)))
    async def post_message(
        self, channel: str, text: str, thread_ts: str | None = None, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Post a message as the bot to a channel (#name or id); give thread_ts (a message's ts) to
        reply in its thread. Slack mrkdwn works: *bold*, <@USERID> mentions, <url|label> links."""
        if not text.strip():
            raise ConnectorError("the message text is empty")
        if len(text) > self.MAX_TEXT:
            raise ConnectorError(
                f"the message is {len(text)} characters; Slack allows at most {self.MAX_TEXT}"
            )
        target = await self._resolve_channel(channel)
        if idempotency_key and tried_before():
            earlier = await self._find_action(target["id"], idempotency_key, thread_ts)
            if earlier is not None:
                return await self._post_result(target, earlier, deduplicated=True)
        payload: dict[str, Any] = {"channel": target["id"], "text": text}
        if thread_ts:
            payload["thread_ts"] = thread_ts
        if idempotency_key:
            payload["metadata"] = {
                "event_type": self.EVENT_TYPE,
                "event_payload": {"action_id": idempotency_key},
            }
        body = await self._api("chat.postMessage", payload, write=True, what=f"channel {channel}")
        message = dict(body.get("message") or {})
        message.setdefault("ts", body.get("ts"))
        return await self._post_result(
            {**target, "id": body.get("channel") or target["id"]}, message, deduplicated=False
        )

    async def _post_result(
        self, target: dict[str, Any], message: dict[str, Any], *, deduplicated: bool
    ) -> dict[str, Any]:
        ts = str(message.get("ts"))
        return {
            "channel": target["id"],
            "channel_name": target.get("name"),
            "ts": ts,
            "thread_ts": message.get("thread_ts"),
            "text": message.get("text"),
            "permalink": await self._permalink(target["id"], ts),
            "deduplicated": deduplicated,
        }

    def live_checks(self) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
        return [("check", self.check), ("list_channels", lambda: self.list_channels(limit=5))]

    async def check(self) -> dict[str, Any]:
        """auth.test: proves the URL and token work, and says which bot and workspace we act as."""
        body = await self._api("auth.test")
        return {
            "ok": True,
            "team": body.get("team"),
            "user": body.get("user"),
            "user_id": body.get("user_id"),
        }


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
