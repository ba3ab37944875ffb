"""A loopback Slack: the Web API methods the chat connector uses, in Slack's wire format.

Every method is `/api/<method>`, called with GET query parameters, a form-encoded
POST or a JSON POST (token as `Authorization: Bearer xoxb-...` or a `token`
argument). Like Slack, it answers HTTP 200 with `{"ok": true, ...}` or
`{"ok": false, "error": "channel_not_found"}`; only rate limiting (injected through
`POST /_faults`) is an HTTP 429 with Retry-After and `{"ok": false, "error": "ratelimited"}`.

Modelled: auth.test, api.test, conversations.list/info/history/replies (cursor
pagination, bot membership, `include_all_metadata`), users.list/info/lookupByEmail,
chat.postMessage (names or ids, threads, message metadata, `missing_charset`
warning), chat.getPermalink, and the permalink pages themselves. State is in
memory behind a lock: the demo serves it from uvicorn's thread while tests read it
from theirs.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import copy
import hashlib
import html
import json
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from connectors.chat import seed as seed_data
from connectors.simulator_base import Faults, SimulatorAuth, mount_base, simulator_app

MAX_TEXT = 40_000
EVENT_TYPE_RE = re.compile(r"^[A-Za-z0-9_]{1,255}$")


class SlackError(Exception):
    """An `ok: false` answer; `extra` fields (e.g. `needed`) go into the body."""

    def __init__(self, error: str, status: int = 200, **extra: Any):
        super().__init__(error)
        self.error = error
        self.status = status
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.error, **self.extra}


def slack_error_body(status: int) -> dict[str, Any]:
    """Slack's bodies for injected faults and auth failures."""
    if status == 429:
        return {"ok": False, "error": "ratelimited"}
    if status == 401:
        return {"ok": False, "error": "invalid_auth"}
    if status >= 500:
        return {"ok": False, "error": "service_unavailable"}
    return {"ok": False, "error": "request_denied"}


def encode_cursor(kind: str, offset: int) -> str:
    return base64.b64encode(f"{kind}:{offset}".encode()).decode()


def decode_cursor(cursor: str | None, kind: str) -> int:
    if not cursor:
        return 0
    try:
        prefix, _, offset = base64.b64decode(cursor.encode(), validate=True).decode().partition(":")
        if prefix != kind:
            raise ValueError(prefix)
        value = int(offset)
    except ValueError:
        raise SlackError("invalid_cursor") from None
    if value < 0:
        raise SlackError("invalid_cursor")
    return value


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, micro = ts.partition(".")
    return int(seconds), int(micro or 0)


# --- state ---------------------------------------------------------------------------


class ChatState:
    """Team, users (people and the bot), channels with members, and messages by channel."""

    def __init__(self, *, clock: Callable[[], float] = time.time):
        self._lock = threading.RLock()
        self._clock = clock
        self.team: dict[str, Any] = {"id": "T00000000", "name": "Workspace", "domain": "workspace"}
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.members: dict[str, list[str]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}  # channel id -> messages, oldest first
        self.bot_user_id: str | None = None
        self.bot_id: str | None = None
        self.app_id: str | None = None
        self._last_ts: tuple[int, int] = (0, 0)
        self._next_channel = 1

    def now(self) -> float:
        return self._clock()

    # setup

    def set_team(self, team: dict[str, Any]) -> None:
        with self._lock:
            self.team = dict(team)

    def add_user(
        self,
        *,
        user_id: str,
        name: str,
        real_name: str,
        email: str | None,
        title: str = "",
        tz: str = "UTC",
        is_admin: bool = False,
        is_bot: bool = False,
        bot_id: str | None = None,
        app_id: str | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            first, _, last = real_name.partition(" ")
            profile: dict[str, Any] = {
                "title": title,
                "phone": "",
                "skype": "",
                "real_name": real_name,
                "real_name_normalized": real_name,
                "display_name": "" if is_bot else name,
                "display_name_normalized": "" if is_bot else name,
                "fields": None,
                "status_text": "",
                "status_emoji": "",
                "status_expiration": 0,
                "avatar_hash": hashlib.md5(user_id.encode()).hexdigest()[:12],
                "first_name": first,
                "last_name": last,
                "image_48": f"https://avatars.slack-edge.example/{user_id}_48.png",
                "image_72": f"https://avatars.slack-edge.example/{user_id}_72.png",
                "team": self.team["id"],
            }
            if email:
                profile["email"] = email
            if is_bot:
                profile.update({"bot_id": bot_id, "api_app_id": app_id, "always_active": True})
            user: dict[str, Any] = {
                "id": user_id,
                "team_id": self.team["id"],
                "name": name,
                "deleted": False,
                "color": "9f69e7",
                "real_name": real_name,
                "tz": tz,
                "tz_label": tz,
                "tz_offset": 0,
                "profile": profile,
                "is_admin": is_admin,
                "is_owner": is_admin,
                "is_primary_owner": False,
                "is_restricted": False,
                "is_ultra_restricted": False,
                "is_bot": is_bot,
                "is_app_user": False,
                "updated": int(self.now()),
                "is_email_confirmed": bool(email),
                "who_can_share_contact_card": "EVERYONE",
            }
            self.users[user_id] = user
            return copy.deepcopy(user)

    def add_bot(self, *, user_id: str, bot_id: str, app_id: str, name: str, real_name: str) -> None:
        with self._lock:
            self.add_user(
                user_id=user_id,
                name=name,
                real_name=real_name,
                email=None,
                is_bot=True,
                bot_id=bot_id,
                app_id=app_id,
            )
            self.bot_user_id, self.bot_id, self.app_id = user_id, bot_id, app_id

    def add_channel(
        self,
        *,
        name: str,
        members: Iterable[str],
        channel_id: str | None = None,
        topic: str = "",
        purpose: str = "",
        creator: str | None = None,
        created: int | None = None,
        is_private: bool = False,
        is_general: bool = False,
        is_archived: bool = False,
    ) -> dict[str, Any]:
        with self._lock:
            if channel_id is None:
                channel_id = f"C{self._next_channel:010d}"
                self._next_channel += 1
            created = created if created is not None else int(self.now())
            channel: dict[str, Any] = {
                "id": channel_id,
                "name": name,
                "is_channel": not is_private,
                "is_group": is_private,
                "is_im": False,
                "is_mpim": False,
                "is_private": is_private,
                "created": created,
                "is_archived": is_archived,
                "is_general": is_general,
                "unlinked": 0,
                "name_normalized": name,
                "is_shared": False,
                "is_org_shared": False,
                "is_pending_ext_shared": False,
                "pending_shared": [],
                "context_team_id": self.team["id"],
                "updated": created * 1000,
                "parent_conversation": None,
                "creator": creator or "",
                "is_ext_shared": False,
                "shared_team_ids": [self.team["id"]],
                "pending_connected_team_ids": [],
                "topic": {"value": topic, "creator": creator or "", "last_set": created if topic else 0},
                "purpose": {
                    "value": purpose,
                    "creator": creator or "",
                    "last_set": created if purpose else 0,
                },
                "previous_names": [],
            }
            self.channels[channel_id] = channel
            self.members[channel_id] = list(dict.fromkeys(members))
            self.messages[channel_id] = []
            return self.render_channel(channel_id)

    # reads

    def render_channel(self, channel_id: str) -> dict[str, Any]:
        with self._lock:
            channel = copy.deepcopy(self.channels[channel_id])
            members = self.members[channel_id]
            channel["is_member"] = self.bot_user_id in members
            channel["num_members"] = len(members)
            return channel

    def channel(self, ref: str, *, allow_name: bool = False) -> dict[str, Any]:
        """A channel by id (or, where Slack allows it, by name with or without '#')."""
        with self._lock:
            if ref in self.channels:
                return self.channels[ref]
            if allow_name:
                name = ref.removeprefix("#").lower()
                for channel in self.channels.values():
                    if channel["name"] == name:
                        return channel
            raise SlackError("channel_not_found")

    def visible(self, channel_id: str) -> bool:
        """Private channels are invisible to the bot unless it is a member."""
        with self._lock:
            return not self.channels[channel_id]["is_private"] or self.bot_user_id in self.members[channel_id]

    def require_member(self, channel_id: str) -> None:
        with self._lock:
            if not self.visible(channel_id):
                raise SlackError("channel_not_found")
            if self.bot_user_id is not None and self.bot_user_id not in self.members[channel_id]:
                raise SlackError("not_in_channel")

    def user_by_email(self, email: str) -> dict[str, Any] | None:
        wanted = email.strip().lower()
        with self._lock:
            for user in self.users.values():
                if str(user["profile"].get("email", "")).lower() == wanted and not user["deleted"]:
                    return copy.deepcopy(user)
            return None

    def find_message(self, channel_id: str, ts: str) -> dict[str, Any] | None:
        with self._lock:
            for message in self.messages.get(channel_id, []):
                if message["ts"] == ts:
                    return message
            return None

    def render_message(self, message: dict[str, Any], *, with_metadata: bool) -> dict[str, Any]:
        with self._lock:
            out = copy.deepcopy(message)
            if not with_metadata:
                out.pop("metadata", None)
            if out.get("thread_ts") == out["ts"]:
                replies = [
                    m
                    for m in self.messages[message["channel"]]
                    if m.get("thread_ts") == out["ts"] and m is not message
                ]
                users = list(dict.fromkeys(m["user"] for m in replies))
                out.update(
                    {
                        "reply_count": len(replies),
                        "reply_users_count": len(users),
                        "latest_reply": replies[-1]["ts"] if replies else out["ts"],
                        "reply_users": users,
                        "is_locked": False,
                        "subscribed": False,
                    }
                )
            out.pop("channel", None)
            return out

    # writes

    def _next_ts(self, at: float | None) -> str:
        """Slack's ts: seconds.microseconds, unique within the workspace (here: strictly increasing
        for new posts; seeded history may be written with explicit past times)."""
        moment = self.now() if at is None else at
        key = (int(moment), round((moment - int(moment)) * 1_000_000) % 1_000_000)
        if at is None and key <= self._last_ts:
            seconds, micro = self._last_ts
            key = (seconds + 1, 0) if micro >= 999_999 else (seconds, micro + 1)
        if at is None or key > self._last_ts:
            self._last_ts = max(self._last_ts, key)
        return f"{key[0]}.{key[1]:06d}"

    def post(
        self,
        channel_id: str,
        user_id: str,
        text: str,
        *,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
        at: float | None = None,
        check: bool = True,
    ) -> dict[str, Any]:
        """Add a message (a thread reply if `thread_ts`); returns the stored message."""
        with self._lock:
            channel = self.channels.get(channel_id)
            if channel is None:
                raise SlackError("channel_not_found")
            if check:
                if user_id not in self.members[channel_id]:
                    raise SlackError("not_in_channel")
                if channel["is_archived"]:
                    raise SlackError("is_archived")
            parent = None
            if thread_ts is not None:
                parent = self.find_message(channel_id, thread_ts)
                if parent is None:
                    raise SlackError("thread_not_found")
                if parent.get("thread_ts") and parent["thread_ts"] != parent["ts"]:
                    parent = self.find_message(channel_id, parent["thread_ts"])  # reply to a reply
                    assert parent is not None
            ts = self._next_ts(at)
            user = self.users.get(user_id, {})
            message: dict[str, Any] = {
                "type": "message",
                "text": text,
                "user": user_id,
                "ts": ts,
                "team": self.team["id"],
                "channel": channel_id,
            }
            if user.get("is_bot"):
                message.update(
                    {
                        "bot_id": self.bot_id,
                        "app_id": self.app_id,
                        "bot_profile": {
                            "id": self.bot_id,
                            "app_id": self.app_id,
                            "name": user.get("real_name"),
                            "icons": {"image_48": f"https://avatars.slack-edge.example/{self.bot_id}_48.png"},
                            "deleted": False,
                            "updated": int(self.now()),
                            "team_id": self.team["id"],
                        },
                    }
                )
            if parent is not None:
                parent["thread_ts"] = parent["ts"]
                message["thread_ts"] = parent["ts"]
                message["parent_user_id"] = parent["user"]
            if metadata is not None:
                message["metadata"] = copy.deepcopy(metadata)
            stored = self.messages[channel_id]
            keys = [_ts_key(m["ts"]) for m in stored]
            stored.insert(bisect.bisect(keys, _ts_key(ts)), message)
            return message

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(
                {
                    "team": self.team,
                    "users": list(self.users.values()),
                    "channels": [self.render_channel(c) for c in self.channels],
                    "messages": self.messages,
                }
            )


# --- request arguments ----------------------------------------------------------------


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes")


def _int(args: dict[str, Any], name: str, default: int, *, low: int, high: int) -> int:
    value = args.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SlackError(
            "invalid_arguments",
            response_metadata={"messages": [f"[ERROR] invalid `{name}`: must be an integer"]},
        ) from None
    return max(low, min(high, number))


def _required(args: dict[str, Any], name: str, error: str | None = None) -> str:
    value = args.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if error:
            raise SlackError(error)
        raise SlackError(
            "invalid_arguments", response_metadata={"messages": [f"[ERROR] missing required field: {name}"]}
        )
    return str(value)


# --- the app -------------------------------------------------------------------------

Handler = Callable[[ChatState, dict[str, Any], Request], dict[str, Any]]


def _permalink(request: Request, channel_id: str, ts: str) -> str:
    return f"{mount_base(request)}/archives/{channel_id}/p{ts.replace('.', '')}"


def _bot_user(state: ChatState) -> str:
    if state.bot_user_id is None:
        raise SlackError("not_allowed_token_type")
    return state.bot_user_id


# methods


def auth_test(state: ChatState, args: dict[str, Any], request: Request) -> dict[str, Any]:
    user = state.users.get(state.bot_user_id or "", {})
    return {
        "url": f"{mount_base(request)}/",
        "team": state.team["name"],
        "user": user.get("name"),
        "team_id": state.team["id"],
        "user_id": state.bot_user_id,
        "bot_id": state.bot_id,
        "is_enterprise_install": False,
    }


def api_test(state: ChatState, args: dict[str, Any], request: Request) -> dict[str, Any]:
    if args.get("error"):
        raise SlackError(str(args["error"]))
    return {"args": {k: v for k, v in args.items() if k != "token"}}


def conversations_list(state: ChatState, args: dict[str, Any], request: Request) -> dict[str, Any]:
    types = {t.strip() for t in str(args.get("types") or "public_channel").split(",") if t.strip()}
    unknown = types - {"public_channel", "private_channel", "mpim", "im"}
    if unknown:
        raise SlackError("invalid_types")
    exclude_archived = _bool(args.get("exclude_archived", False))
    limit = _int(args, "limit", 100, low=1, high=1000)
    offset = decode_cursor(args.get("cursor"), "channel")
    with state._lock:
        found = []
        for cid, channel in state.channels.items():
            kind = "private_channel" if channel["is_private"] else "public_channel"
            if kind not in types or not state.visible(cid):
                continue
            if exclude_archived and channel["is_archived"]:
                continue
            found.append(state.render_channel(cid))
    page = found[offset : offset + limit]
    more = offset + limit < len(found)
    return {
        "channels": page,
        "response_metadata": {"next_cursor": encode_cursor("channel", offset + limit) if more else ""},
    }


def conversations_info(state: ChatState, args: dict[str, Any], request: Request) -> dict[str, Any]:
    channel = state.channel(_required(args, "channel", "channel_not_found"))
    if not state.visible(channel["id"]):
        raise SlackError("channel_not_found")
    return {"channel": state.render_channel(channel["id"])}


def _window(args: dict[str, Any], messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    inclusive = _bool(args.get("inclusive", False))
    try:
        oldest = _ts_key(str(args.get("oldest") or "0"))
        latest = _ts_key(str(args["latest"])) if args.get("latest") else None
    except ValueError:
        raise SlackError("invalid_ts_oldest" if args.get("oldest") else "invalid_ts_latest") from None
    out = []
    for m in messages:
        key = _ts_key(m["ts"])
        if key < oldest or (key == oldest and not inclusive and args.get("oldest")):
            continue
        if latest is not None and (key > latest or (key == latest and not inclusive)):
            continue
        out.append(m)
    return out


def conversations_history(state: ChatState, args: dict[str, Any], request: Request) -> dict[str, Any]:
    channel = state.channel(_required(args, "channel", "channel_not_found"))
    state.require_member(channel["id"])
    limit = _int(args, "limit", 100, low=1, high=999)
    offset = decode_cursor(args.get("cursor"), "history")
    with_metadata = _bool(args.get("include_all_metadata", False))
    with state._lock:
        top = [
            m for m in state.messages[channel["id"]] if not m.get("thread_ts") or m["thread_ts"] == m["ts"]
        ]
        top = list(reversed(_window(args, top)))  # newest first
        page = [state.render_message(m, with_metadata=with_metadata) for m in top[offset : offset + limit]]
    more = offset + limit < len(top)
    out: dict[str, Any] = {
        "messages": page,
        "has_more": more,
        "pin_count": 0,
        "channel_actions_ts": None,
        "channel_actions_count": 0,
    }
    if more:
        out["response_metadata"] = {"next_cursor": encode_cursor("history", offset + limit)}
    return out


def conversations_replies(state: ChatState, args: dict[str, Any], request: Request) -> dict[str, Any]:
    channel = state.channel(_required(args, "channel", "channel_not_found"))
    state.require_member(channel["id"])
    ts = _required(args, "ts", "thread_not_found")
    limit = _int(args, "limit", 1000, low=1, high=1000)
    offset = decode_cursor(args.get("cursor"), "replies")
    with_metadata = _bool(args.get("include_all_metadata", False))
    with state._lock:
        message = state.find_message(channel["id"], ts)
        if message is None:
            raise SlackError("thread_not_found")
        parent_ts = message.get("thread_ts") or message["ts"]
        thread = [
            m
            for m in state.messages[channel["id"]]
            if m["ts"] == parent_ts or m.get("thread_ts") == parent_ts
        ]
        thread = _window(args, thread)  # oldest first, parent first
        page = [state.render_message(m, with_metadata=with_metadata) for m in thread[offset : offset + limit]]
    more = offset + limit < len(thread)
    out: dict[str, Any] = {"messages": page, "has_more": more}
    if more:
        out["response_metadata"] = {"next_cursor": encode_cursor("replies", offset + limit)}
    return out


def users_list(state: ChatState, args: dict[str, Any], request: Request) -> dict[str, Any]:
    limit = _int(args, "limit", 200, low=1, high=1000)
    offset = decode_cursor(args.get("cursor"), "user")
    with state._lock:
        members = copy.deepcopy(list(state.users.values()))
    more = offset + limit < len(members)
    return {
        "members": members[offset : offset + limit],
        "cache_ts": int(state.now()),
        "response_metadata": {"next_cursor": encode_cursor("user", offset + limit) if more else ""},
    }


def users_info(state: ChatState, args: dict[str, Any], request: Request) -> dict[str, Any]:
    user_id = _required(args, "user", "user_not_found")
    with state._lock:
        user = copy.deepcopy(state.users.get(user_id))
    if user is None:
        raise SlackError("user_not_found")
    return {"user": user}


def users_lookup_by_email(state: ChatState, args: dict[str, Any], request: Request) -> dict[str, Any]:
    user = state.user_by_email(_required(args, "email", "users_not_found"))
    if user is None:
        raise SlackError("users_not_found")
    return {"user": user}


def _metadata(metadata: Any) -> dict[str, Any] | None:
    """chat.postMessage's `metadata`: a JSON object (or its text) with an event type and payload."""
    if metadata is None or metadata == "":
        return None
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            raise SlackError("invalid_metadata_format") from None
    if not isinstance(metadata, dict):
        raise SlackError("invalid_metadata_format")
    if not EVENT_TYPE_RE.match(str(metadata.get("event_type") or "")) or not isinstance(
        metadata.get("event_payload"), dict
    ):
        raise SlackError("invalid_metadata_schema")
    return {"event_type": metadata["event_type"], "event_payload": metadata["event_payload"]}


def chat_post_message(state: ChatState, args: dict[str, Any], request: Request) -> dict[str, Any]:
    sender = _bot_user(state)
    channel = state.channel(_required(args, "channel", "channel_not_found"), allow_name=True)
    if not state.visible(channel["id"]):
        raise SlackError("channel_not_found")
    text = args.get("text")
    text = "" if text is None else str(text)
    if not text.strip() and not args.get("blocks") and not args.get("attachments"):
        raise SlackError("no_text")
    if len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")
    metadata = _metadata(args.get("metadata"))
    thread_ts = args.get("thread_ts") or None
    message = state.post(
        channel["id"], sender, text, thread_ts=str(thread_ts) if thread_ts else None, metadata=metadata
    )
    return {
        "channel": channel["id"],
        "ts": message["ts"],
        "message": state.render_message(message, with_metadata=True),
    }


def chat_get_permalink(state: ChatState, args: dict[str, Any], request: Request) -> dict[str, Any]:
    channel = state.channel(_required(args, "channel", "channel_not_found"))
    ts = _required(args, "message_ts", "message_not_found")
    if state.find_message(channel["id"], ts) is None:
        raise SlackError("message_not_found")
    return {"channel": channel["id"], "permalink": _permalink(request, channel["id"], ts)}


METHODS: dict[str, Handler] = {
    "api.test": api_test,
    "auth.test": auth_test,
    "conversations.list": conversations_list,
    "conversations.info": conversations_info,
    "conversations.history": conversations_history,
    "conversations.replies": conversations_replies,
    "users.list": users_list,
    "users.info": users_info,
    "users.lookupByEmail": users_lookup_by_email,
    "chat.postMessage": chat_post_message,
    "chat.getPermalink": chat_get_permalink,
}
NO_AUTH = frozenset({"api.test"})


async def _read_args(request: Request) -> tuple[dict[str, Any], list[str]]:
    """Query parameters plus a form or JSON body, as Slack merges them; and warnings."""
    args: dict[str, Any] = dict(request.query_params)
    warnings: list[str] = []
    if request.method != "POST":
        return args, warnings
    content_type = request.headers.get("content-type", "")
    raw = await request.body()
    if not raw:
        return args, warnings
    if content_type.startswith("application/json"):
        if "charset" not in content_type.lower():
            warnings.append("missing_charset")
        try:
            data = json.loads(raw)
        except ValueError:
            raise SlackError("invalid_json") from None
        if not isinstance(data, dict):
            raise SlackError("json_not_object")
        args.update(data)
    elif content_type.startswith("application/x-www-form-urlencoded") or not content_type:
        args.update(dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)))
    else:
        raise SlackError("invalid_form_data")
    return args, warnings


def _check_token(request: Request, args: dict[str, Any]) -> None:
    accepted: frozenset[str] | None = request.app.state.tokens
    if accepted is None:
        return
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    token = value.strip() if scheme.lower() == "bearer" else str(args.get("token") or "")
    if not token:
        raise SlackError("not_authed")
    if token not in accepted:
        raise SlackError("invalid_auth")


router = APIRouter()


@router.api_route("/api/{method}", methods=["GET", "POST"])
async def call(method: str, request: Request) -> Response:
    handler = METHODS.get(method)
    try:
        if handler is None:
            raise SlackError("unknown_method", status=404, req_method=method)
        args, warnings = await _read_args(request)
        if method not in NO_AUTH:
            _check_token(request, args)
        result = handler(request.app.state.chat, args, request)
    except SlackError as exc:
        return JSONResponse(exc.body(), status_code=exc.status)
    body: dict[str, Any] = {"ok": True, **result}
    if warnings:
        body["warning"] = ",".join(warnings)
        meta = body.setdefault("response_metadata", {})
        meta["warnings"] = warnings
    return JSONResponse(body)


@router.get("/archives/{channel_id}/{p_ts}", include_in_schema=False)
async def permalink_page(channel_id: str, p_ts: str, request: Request) -> Response:
    """The page a permalink opens, so links in approvals and answers work."""
    state: ChatState = request.app.state.chat
    match = re.fullmatch(r"p(\d+)(\d{6})", p_ts)
    channel = state.channels.get(channel_id)
    message = (
        state.find_message(channel_id, f"{match.group(1)}.{match.group(2)}") if match and channel else None
    )
    if message is None or channel is None:
        return HTMLResponse("<h1>Message not found</h1>", status_code=404)
    author = state.users.get(message["user"], {}).get("real_name", message["user"])
    return HTMLResponse(
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>#{html.escape(channel['name'])}"
        f"</title></head><body><main><h1>#{html.escape(channel['name'])}</h1><p><strong>"
        f"{html.escape(author)}</strong></p><p>{html.escape(message['text'])}</p></main></body></html>"
    )


def create_app(
    state: ChatState | None = None,
    *,
    seed: bool = True,
    tokens: Iterable[str] | None = None,
    auth: SimulatorAuth | None = None,
    faults: Faults | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> FastAPI:
    """A Slack-shaped ASGI app. `seed` fills an empty state with the demo workspace;
    `tokens` are the accepted bot tokens (default: any, even none), checked the way
    Slack does (HTTP 200, `not_authed` / `invalid_auth`). `auth` is the shared
    transport-level check (401s), open by default. State, faults and tokens are also
    on `app.state` for in-process tests."""
    state = state if state is not None else ChatState()
    if seed and not state.users:
        seed_data.seed(state)
    faults = faults or Faults()
    accepted = frozenset(tokens) if tokens is not None else None
    app = simulator_app(
        "Chat simulator (Slack Web API)",
        state_name="chat",
        state=state,
        faults=faults,
        auth=auth or SimulatorAuth(),
        error_body=slack_error_body,
        sleep=sleep,
    )
    app.state.tokens = accepted

    app.include_router(router)
    return app
