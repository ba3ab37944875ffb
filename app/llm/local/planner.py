"""Rule-based agent steps for `triage/act` and `chat`.

The local engine has no language model, so each step is a small state machine
over the conversation so far: which tool calls were proposed, which results
came back, and whether a person rejected one. It only proposes tools that the
request lists, fits arguments to each tool's schema, never repeats a call a
person rejected, and always ends with a plain summary of what was and was not
done. Writes still go through the approval gate outside this module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.llm.base import Message, ModelRequest, ModelResponse, ToolCall, ToolSpec
from app.llm.local.heuristics import ALL_STOPWORDS, words
from app.llm.local.redraft import redraft
from app.llm.local.retrieval import GENERIC

SEP = "__"
REJECTED = "Rejected by"


# --- shared helpers ---------------------------------------------------------


def split_tool(name: str) -> tuple[str, str]:
    """("helpdesk", "add_comment") from "helpdesk__add_comment"."""
    connection, _, operation = name.rpartition(SEP)
    return connection, operation


def find_tool(tools: list[ToolSpec], connection: str | None, operation: str) -> ToolSpec | None:
    """The tool for `operation` on `connection`; any connection's when none is named."""
    for tool in tools:
        conn, op = split_tool(tool.name)
        if op == operation and (not connection or conn == connection):
            return tool
    return None


def fit_arguments(tool: ToolSpec, arguments: dict[str, Any]) -> dict[str, Any]:
    """Drop arguments the tool's schema does not declare (connector schemas forbid extras)."""
    props = tool.input_schema.get("properties")
    if not isinstance(props, Mapping) or not props:
        return arguments
    return {k: v for k, v in arguments.items() if k in props}


def _param(tool: ToolSpec, candidates: tuple[str, ...]) -> str:
    """The first candidate parameter name the tool declares (else the first candidate)."""
    props = tool.input_schema.get("properties") or {}
    for name in candidates:
        if name in props:
            return name
    for name in tool.input_schema.get("required") or []:
        if isinstance(name, str):
            return name
    return candidates[0]


@dataclass
class History:
    """The tool calls proposed in the current turn and the results that came back."""

    calls: list[ToolCall] = field(default_factory=list)
    results: dict[str, Message] = field(default_factory=dict)

    def result(self, call: ToolCall) -> Message | None:
        return self.results.get(call.id)

    def operations(self) -> list[str]:
        return [split_tool(c.name)[1] for c in self.calls]


def read_history(messages: list[Message], since_last_user: bool = False) -> History:
    """Collect assistant tool calls and tool results (optionally only after the last user message)."""
    start = 0
    if since_last_user:
        users = [i for i, m in enumerate(messages) if m.role == "user"]
        start = users[-1] + 1 if users else 0
    history = History()
    for message in messages[start:]:
        if message.role == "assistant":
            history.calls.extend(message.tool_calls)
        elif message.role == "tool" and message.tool_call_id:
            history.results[message.tool_call_id] = message
    return history


def is_rejection(message: Message) -> bool:
    return message.content.lstrip().startswith(REJECTED)


def rejection_reason(content: str) -> str:
    """The reason a person gave, from "Rejected by alice: reason" or "... Reason: reason"."""
    text = content.strip()
    match = re.search(r"reason\s*[:=]\s*(.+)", text, re.I | re.S)
    if match:
        return match.group(1).strip()
    _, sep, tail = text.partition(":")
    return tail.strip() if sep and tail.strip() else text


_FENCE = re.compile(r"^\s*<untrusted_data[^>]*>\n?(.*?)\n?</untrusted_data>\s*$", re.S)


def unfence(content: str) -> str:
    """A tool result without the <untrusted_data> fence the run loop puts around it."""
    match = _FENCE.match(content or "")
    return match.group(1) if match else content


_FENCE_TAG = re.compile(r"</?untrusted_data\b[^>]*>")


def plain(content: str) -> str:
    """A tool result as a person reads it: the fence tags (whole or around an error) dropped."""
    return _FENCE_TAG.sub("", content or "").strip()


def parse_json(content: str) -> Any:
    """The JSON a tool result holds; a note after it (a trimmed list's) is left aside."""
    try:
        return json.JSONDecoder().raw_decode(unfence(content).strip())[0]
    except (TypeError, ValueError, AttributeError):
        return None


def _tool_use(calls: list[ToolCall], note: str = "") -> ModelResponse:
    return ModelResponse(content=note, tool_calls=calls, stop_reason="tool_use")


def _end(text: str) -> ModelResponse:
    return ModelResponse(content=text, stop_reason="end_turn")


# --- triage/act ---------------------------------------------------------------


def _connection(variables: Mapping[str, Any], tools: list[ToolSpec]) -> str:
    name = variables.get("connection")
    if isinstance(name, str) and name:
        return name
    return next((split_tool(t.name)[0] for t in tools if SEP in t.name), "")


def _created_id(content: str) -> int | str | None:
    """The new ticket's id from a create_ticket result.

    Accepts {"ticket": {"id"}} or {"id"}, also inside the envelope the run loop
    uses when an approver edited the call ({"edited_by_approver", "result": ...}).
    """
    data: Any = parse_json(content)
    for _ in range(3):
        if not isinstance(data, Mapping):
            return None
        ticket = data.get("ticket")
        if isinstance(ticket, Mapping) and isinstance(ticket.get("id"), int | str):
            return ticket["id"]  # type: ignore[no-any-return]
        if isinstance(data.get("id"), int | str):
            return data["id"]  # type: ignore[no-any-return]
        data = data.get("result", data.get("data"))
    return None


def _review_note(classification: Mapping[str, Any], draft: Mapping[str, Any]) -> str:
    category = classification.get("category", "unknown")
    confidence = classification.get("confidence")
    conf = f"{float(confidence):.0%}" if isinstance(confidence, int | float) else "unknown"
    lines = [
        "Switchboard needs a person to review this ticket before anything is sent.",
        f"Reason: low classification confidence ({category} at {conf}).",
    ]
    if classification.get("rationale"):
        lines.append(f"Classifier notes: {classification['rationale']}")
    if draft.get("body"):
        lines += ["", "Suggested reply (not sent):", "", str(draft["body"]).strip()]
    return "\n".join(lines)


def _describe(call: ToolCall) -> str:
    """A short human description of a proposed call, for summaries."""
    _, op = split_tool(call.name)
    args = call.arguments
    tid = args.get("ticket_id")
    on = f" on ticket #{tid}" if tid is not None else ""
    if op == "add_comment":
        return ("post the public reply" if args.get("public", True) else "add the internal note") + on
    if op == "update_ticket":
        parts = []
        if args.get("priority"):
            parts.append(f"priority {args['priority']}")
        if args.get("add_tags"):
            parts.append("tags " + ", ".join(map(str, args["add_tags"])))
        return f"update ticket #{tid}" + (f" ({'; '.join(parts)})" if parts else "")
    if op == "create_ticket":
        return "create the ticket"
    return f"{op.replace('_', ' ')}{on}"


def _reply_calls(
    tools: list[ToolSpec],
    conn: str,
    ticket_id: Any,
    classification: Mapping[str, Any],
    draft: Mapping[str, Any],
    start: int,
    include_update: bool = True,
) -> list[ToolCall]:
    """The reply (or the internal review note) plus the ticket update, as far as the tools allow."""
    review = bool(classification.get("needs_review"))
    planned: list[tuple[str, dict[str, Any]]] = []
    if review:
        planned.append(
            (
                "add_comment",
                {"ticket_id": ticket_id, "body": _review_note(classification, draft), "public": False},
            )
        )
        if include_update:
            planned.append(("update_ticket", {"ticket_id": ticket_id, "add_tags": ["needs_review"]}))
    else:
        if draft.get("body"):
            planned.append(("add_comment", {"ticket_id": ticket_id, "body": draft["body"], "public": True}))
        if include_update:
            tags = [t for t in (classification.get("category"), "switchboard") if t]
            update: dict[str, Any] = {"ticket_id": ticket_id, "add_tags": tags}
            if classification.get("priority"):
                update["priority"] = classification["priority"]
            planned.append(("update_ticket", update))
    calls: list[ToolCall] = []
    for op, args in planned:
        tool = find_tool(tools, conn, op)
        if tool is not None:
            calls.append(
                ToolCall(
                    id=f"local_{start + len(calls)}", name=tool.name, arguments=fit_arguments(tool, args)
                )
            )
    return calls


_WANTS_MONEY_BACK = re.compile(
    r"\b(refund|money back|reimburs|duplicate|charged (me )?twice|rembours|reembols|rückerstatt|erstatt)",
    re.I,
)
_ORDER_NO = re.compile(r"\bNW-\d{4,6}\b")


def _refund_target(text: str, account: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The charge a customer asks to have back: a duplicate, or an order they name that is
    paid, not refunded and not disputed (a disputed charge is for the bank to settle)."""
    charges = [c for c in account.get("charges") or [] if isinstance(c, Mapping)]
    disputed = {d.get("charge") for d in account.get("disputes") or [] if isinstance(d, Mapping)}
    from app.llm.local.replies import duplicate_charge

    open_charges = [c for c in charges if not c.get("amount_refunded") and c.get("id") not in disputed]
    if (duplicate := duplicate_charge(open_charges)) is not None:
        return duplicate
    named = set(_ORDER_NO.findall(text))
    return next((c for c in open_charges if c.get("order") in named), None)


def _across_calls(
    tools: list[ToolSpec],
    ticket: Mapping[str, Any],
    classification: Mapping[str, Any],
    account: Mapping[str, Any],
    start: int,
) -> list[ToolCall]:
    """Writes on other systems that follow from the ticket: a refund it asks for, an issue for a bug."""
    if classification.get("needs_review"):
        return []
    text = f"{ticket.get('subject') or ''}\n{ticket.get('body') or ''}"
    planned: list[tuple[str, dict[str, Any]]] = []
    category = classification.get("category")
    if category in ("refund", "billing") and _WANTS_MONEY_BACK.search(text):
        charge = _refund_target(text, account)
        if charge is not None:
            planned.append(("create_refund", {"charge_id": charge["id"], "reason": "requested_by_customer"}))
    if category == "technical_issue":
        tid = ticket.get("external_id")
        planned.append(
            (
                "create_issue",
                {
                    "team_id": "ENG",
                    "title": f"Customer report (help-desk ticket #{tid})"
                    if tid is not None
                    else "Customer report",
                    "description": f"A customer reported a problem in help-desk ticket #{tid}; "
                    f"priority {classification.get('priority', 'normal')}. Read the ticket for the details.",
                    "labels": ["Bug"],
                },
            )
        )
    calls: list[ToolCall] = []
    for op, args in planned:
        tool = find_tool(tools, None, op)
        if tool is not None:
            calls.append(
                ToolCall(
                    id=f"local_{start + len(calls)}", name=tool.name, arguments=fit_arguments(tool, args)
                )
            )
    return calls


def _spam_calls(tools: list[ToolSpec], conn: str, ticket_id: Any) -> list[ToolCall]:
    """Spam gets no reply: solved and tagged, so it leaves the queue and can be reported."""
    tool = find_tool(tools, conn, "update_ticket")
    if tool is None:
        return []
    args = {"ticket_id": ticket_id, "status": "solved", "add_tags": ["spam"]}
    return [ToolCall(id="local_1", name=tool.name, arguments=fit_arguments(tool, args))]


def _summary(history: History) -> str:
    done, failed = [], []
    for call in history.calls:
        result = history.result(call)
        if result is None:
            continue
        if result.is_error or is_rejection(result):
            failed.append(f"could not {_describe(call)}: {plain(result.content)[:200]}")
        else:
            done.append(_describe(call))
    text = "Done: " + "; ".join(done) + "." if done else "Nothing was changed."
    if failed:
        text += " Problems: " + "; ".join(failed) + "."
    return text


def _redrafts(
    tools: list[ToolSpec], rejected: list[tuple[ToolCall, Message]], history: History, start: int
) -> list[ToolCall]:
    """A new reply for a public reply rejected for its tone or length; at most one redraft per ticket."""
    replies = [c for c in history.calls if split_tool(c.name)[1] == "add_comment"]
    calls: list[ToolCall] = []
    for call, result in rejected:
        conn, op = split_tool(call.name)
        args = call.arguments
        if op != "add_comment" or not args.get("public", True) or not isinstance(args.get("body"), str):
            continue
        if sum(1 for c in replies if c.arguments.get("ticket_id") == args.get("ticket_id")) > 1:
            continue  # redrafted once already: a second no stands
        body = redraft(args["body"], rejection_reason(result.content))
        tool = find_tool(tools, conn, "add_comment")
        if body is None or tool is None:
            continue
        calls.append(
            ToolCall(id=f"local_{start + len(calls)}", name=call.name, arguments={**args, "body": body})
        )
    return calls


def _after_rejection(
    tools: list[ToolSpec], history: History, rejected: list[tuple[ToolCall, Message]]
) -> ModelResponse:
    """A redraft where a reviewer asked for one; else what was not done and why, and the rest."""
    redrafts = _redrafts(tools, rejected, history, start=len(history.calls) + 1)
    if redrafts:
        return _tool_use(redrafts, "Redrafted the reply as the reviewer asked.")
    replies = [c.arguments.get("ticket_id") for c in history.calls if split_tool(c.name)[1] == "add_comment"]
    redone = [
        (c, r)
        for c, r in rejected
        if replies.count(c.arguments.get("ticket_id")) > 1 and c.name.endswith("add_comment")
    ]
    refused = [(c, r) for c, r in rejected if (c, r) not in redone]
    said = []
    if refused:
        not_done = "; ".join(f"{_describe(c)} (reason: {rejection_reason(r.content)})" for c, r in refused)
        said.append(f"Not done, rejected by a reviewer: {not_done}.")
    if redone:
        why = "; ".join(rejection_reason(r.content) for _, r in redone)
        said.append(f"The reply was redrafted after a reviewer's note ({why}).")
    rejected_ids = {c.id for c, _ in rejected}
    rest = _summary(History([c for c in history.calls if c.id not in rejected_ids], history.results))
    return _end(" ".join([*said, rest]))


def plan_act(request: ModelRequest) -> ModelResponse:
    """One step of the act loop: propose the writes, or finish with a summary."""
    v = request.variables
    ticket: Mapping[str, Any] = v.get("ticket") or {}
    classification: Mapping[str, Any] = v.get("classification") or {}
    draft: Mapping[str, Any] = v.get("draft") or {}
    tools = request.tools
    conn = _connection(v, tools)
    external_id = ticket.get("external_id")
    review = bool(classification.get("needs_review"))
    history = read_history(request.messages)

    if not history.calls:
        calls: list[ToolCall]
        if external_id is not None and classification.get("spam"):
            calls = _spam_calls(tools, conn, external_id)
        elif external_id is not None:
            calls = _reply_calls(tools, conn, external_id, classification, draft, start=1)
            account = v.get("account")
            if isinstance(account, Mapping):
                calls += _across_calls(tools, ticket, classification, account, start=len(calls) + 1)
        else:
            tool = find_tool(tools, conn, "create_ticket")
            calls = []
            if tool is not None:
                tags = [t for t in (classification.get("category"), "switchboard") if t]
                if review:
                    tags.append("needs_review")
                args = {
                    "subject": ticket.get("subject") or "(no subject)",
                    "body": ticket.get("body") or "",
                    "requester_email": ticket.get("requester_email"),
                    "priority": classification.get("priority"),
                    "tags": tags,
                }
                args = {k: val for k, val in args.items() if val is not None}
                calls = [ToolCall(id="local_1", name=tool.name, arguments=fit_arguments(tool, args))]
        if not calls:
            needed = "add_comment/update_ticket" if external_id is not None else "create_ticket"
            return _end(f"Nothing proposed: the connection {conn or '(none)'} offers no {needed} tool.")
        note = "This ticket needs a person's review; proposing an internal note." if review else ""
        return _tool_use(calls, note)

    # A person said no: never re-propose the same call. A reply rejected for its tone or
    # length is redrafted once, as asked; anything else is reported as not done, with why.
    rejected = [(c, r) for c in history.calls if (r := history.result(c)) is not None and is_rejection(r)]
    if rejected:
        return _after_rejection(tools, history, rejected)

    if any(history.result(c) is None for c in history.calls):
        return _end("Waiting for the results of the proposed actions.")

    if external_id is None and "add_comment" not in history.operations():
        create = next((c for c in history.calls if split_tool(c.name)[1] == "create_ticket"), None)
        result = history.result(create) if create else None
        new_id = _created_id(result.content) if result is not None and not result.is_error else None
        if new_id is not None:
            calls = _reply_calls(
                tools, conn, new_id, classification, draft, start=len(history.calls) + 1, include_update=False
            )
            if calls:
                return _tool_use(calls)

    return _end(_summary(history))


# --- chat -----------------------------------------------------------------------

_TICKET_REF = re.compile(r"\b(?:ticket|case|issue)\s*(?:#|no\.?|number|nr\.?)?\s*(\d+)\b|#(\d+)\b", re.I)
_SEARCH = re.compile(
    r"\b(find|search|look\s*up|lookup|show|list|any|which|are there|mention(s|ing)?)\b", re.I
)
_TICKETS = re.compile(r"\btickets?\b", re.I)
_TOPIC = re.compile(
    r"\b(?:about|regarding|concerning|mentioning|mentions?|related to|with|for|on|that mention)\s+(.+)", re.I
)
_HOW_TO = re.compile(
    r"\b(how (do|can|to|does|should|long|much)|policy|policies|what is (the|your|our)|can i|can we|"
    r"is it possible|guide|article|documentation|docs|explain)\b",
    re.I,
)

_PAYMENTS = re.compile(r"\b(charges?|charged|payments?|paid|disputes?)\b", re.I)
CANNOT = "I can't answer that with the offline model. "
HELP = (
    'I\'m the offline assistant. I can look up a ticket ("show ticket 12"), search tickets '
    '("find tickets about refunds") and answer from the knowledge base ("what is the refund policy?").'
)


def _keywords(text: str) -> str:
    """The message's content words, for a knowledge-base search."""
    return " ".join(w for w in words(text) if w not in ALL_STOPWORDS and w not in GENERIC)


def _topic(message: str) -> str:
    """What tickets to search for: the words after "about/regarding/…", minus filler."""
    match = _TOPIC.search(message)
    text = match.group(1) if match else message
    kept = [
        w for w in words(text) if w not in ALL_STOPWORDS and w not in GENERIC and not _SEARCH.fullmatch(w)
    ]
    kept = [w for w in kept if not _TICKETS.fullmatch(w)]
    return " ".join(kept) or text.strip(" ?.!")


def _items(data: Any, keys: tuple[str, ...]) -> list[Mapping[str, Any]]:
    """The list of records in a tool result, whatever envelope the connector used."""
    if isinstance(data, list):
        return [d for d in data if isinstance(d, Mapping)]
    if isinstance(data, Mapping):
        for key in keys:
            value = data.get(key)
            if isinstance(value, list):
                return [d for d in value if isinstance(d, Mapping)]
    return []


def _clip(text: Any, limit: int = 240) -> str:
    one_line = re.sub(r"\s+", " ", str(text or "")).strip()
    return one_line if len(one_line) <= limit else one_line[: limit - 1].rsplit(" ", 1)[0] + "…"


def _summarize_ticket(content: str) -> str:
    data = parse_json(content)
    if not isinstance(data, Mapping):
        return f"Here is what the help desk returned: {_clip(content)}"
    ticket = data.get("ticket") if isinstance(data.get("ticket"), Mapping) else data
    assert isinstance(ticket, Mapping)
    comments = _items(data, ("comments",)) or _items(ticket, ("comments",))
    parts = [f'Ticket #{ticket.get("id", "?")}: "{_clip(ticket.get("subject"), 120)}"']
    facts = [f"{k} {ticket[k]}" for k in ("status", "priority") if ticket.get(k)]
    if facts:
        parts.append(", ".join(facts))
    if comments:
        last = comments[-1]
        parts.append(
            f'last comment: "{_clip(last.get("body") or last.get("plain_body") or last.get("html_body"))}"'
        )
    elif ticket.get("description"):
        parts.append(f'description: "{_clip(ticket["description"])}"')
    return " — ".join(parts) + "."


def _summarize_search(content: str, topic: str) -> str:
    found = _items(parse_json(content), ("results", "tickets", "items", "data"))
    if not found:
        return f"I found no tickets about {topic}."
    lines = [f"I found {len(found)} ticket{'s' if len(found) != 1 else ''} about {topic}:"]
    for t in found[:5]:
        status = f" ({t['status']})" if t.get("status") else ""
        lines.append(f"- #{t.get('id', '?')} {_clip(t.get('subject'), 100)}{status}")
    if len(found) > 5:
        lines.append(f"…and {len(found) - 5} more.")
    return "\n".join(lines)


def _summarize_articles(content: str, question: str) -> str:
    found = _items(parse_json(content), ("results", "articles", "items", "data"))
    if not found:
        return "I can't answer that: no knowledge-base article or connected system I can read covers it."
    from app.llm.local.replies import best_passages
    from app.llm.local.retrieval import rank_articles

    ranked = rank_articles(question, found)
    # A title that names the question's topic beats a body that mentions it in passing.
    top = max(ranked, key=lambda r: (r.relevant, len(r.title_matched), r.evidence, r.score)).article
    # Whole passages (a list stays whole), the one that answers the question first among them.
    parts = best_passages(question, str(top.get("body") or top.get("snippet") or ""))
    url = top.get("html_url") or top.get("url") or ""
    answer = "\n\n".join(parts)
    text = (
        f'From "{top.get("title", "the knowledge base")}":\n\n{answer}' if answer else str(top.get("title"))
    )
    return text + (f"\n\nRead more: {url}" if url else "")


_QUERY = ("query", "q", "text")


def plan_chat(request: ModelRequest) -> ModelResponse:
    """Deterministic chat: look up a ticket, search tickets, or answer from an article."""
    users = [m for m in request.messages if m.role == "user"]
    message = str(request.variables.get("message") or (users[-1].content if users else ""))
    tools = request.tools
    history = read_history(request.messages, since_last_user=True)

    from app.llm.local import chat_plans

    ids = len(read_history(request.messages).calls)
    step = chat_plans.plan(message, tools, history.calls, history.results, ids)
    if step is not None:
        return step
    searches = [c for c in history.calls if c.name == chat_plans.SEARCH_TOOL]
    history.calls = [c for c in history.calls if c.name != chat_plans.SEARCH_TOOL]

    if history.calls:
        return _end(_chat_summary(history, message))

    # Ids stay unique across the whole conversation, not just this turn.
    call_id = f"local_{ids + 1}"
    keywords = _keywords(message)
    ref = _TICKET_REF.search(message)
    asks: list[tuple[bool, str, tuple[str, ...], Any]] = [
        (ref is not None, "get_ticket", ("ticket_id", "id"), int(ref.group(1) or ref.group(2)) if ref else 0),
        (
            bool(_TICKETS.search(message) and _SEARCH.search(message)),
            "search_tickets",
            _QUERY,
            _topic(message),
        ),
        (
            bool(keywords and (_HOW_TO.search(message) or message.strip().endswith("?"))),
            "search_articles",
            _QUERY,
            keywords,
        ),
    ]
    for fits, operation, params, value in asks:
        if not fits:
            continue
        tool = find_tool(tools, None, operation)
        if tool is not None:
            return _tool_use([ToolCall(id=call_id, name=tool.name, arguments={_param(tool, params): value})])
        # Not offered: find it (once), else try the next kind of answer.
        if (found := chat_plans.search_for([operation], tools, searches, ids)) is not None:
            return found
    return _end(CANNOT + HELP)


def _chat_summary(history: History, message: str) -> str:
    """The answer from this turn's results: each call's result as a person reads it."""
    replies = []
    for call in history.calls:
        result = history.result(call)
        op = split_tool(call.name)[1]
        if result is None:
            continue
        if is_rejection(result):
            replies.append(f"I did not {op.replace('_', ' ')}: {rejection_reason(result.content)}")
        elif result.is_error:
            replies.append(f"I couldn't {op.replace('_', ' ')}: {_clip(plain(result.content), 200)}")
        elif op == "get_ticket":
            replies.append(_summarize_ticket(result.content))
            if _PAYMENTS.search(message):
                replies.append(
                    "I can't look up the requester's payments from here: the help desk gives me "
                    "their id, not their email address. Ask me about their email and I'll list "
                    "their charges."
                )
        elif op == "search_tickets":
            replies.append(
                _summarize_search(result.content, str(call.arguments.get("query") or _topic(message)))
            )
        elif op == "search_articles":
            replies.append(_summarize_articles(result.content, message))
        else:
            replies.append(f"{op.replace('_', ' ')}: {_clip(plain(result.content))}")
    return "\n\n".join(replies) or HELP
