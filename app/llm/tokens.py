"""Token counting that never touches the network.

Encodings come from `connectors.tokenizer`, the one offline loader: a model's real
encoding when tiktoken can read it locally, the bundled cl100k otherwise. Anthropic
models have no public tokenizer, so their counts are always a cl100k approximation;
that is fine for budgets and trimming, and billing uses the usage the vendor reports,
not these counts.
"""

from __future__ import annotations

import json
from functools import lru_cache

import tiktoken

from app.llm.base import ModelRequest
from connectors.tokenizer import OFFLINE_ENCODING as OFFLINE_ENCODING
from connectors.tokenizer import offline_encoding

# Chat framing overhead, as in OpenAI's counting recipe: a few tokens per
# message for role and separators, and a few to prime the reply.
_PER_MESSAGE = 3
_REPLY_PRIMING = 3


@lru_cache(maxsize=64)
def encoding_for(model: str | None = None) -> tiktoken.Encoding:
    """The encoding to count `model`'s tokens with, loaded without network access.

    `model` may carry our provider prefix ("openai:gpt-4o"). Unknown models,
    Anthropic models and encodings that are not cached locally get the bundled
    cl100k_base, which is close enough for budgeting.
    """
    if model:
        bare = model.split(":", 1)[1] if ":" in model else model
        try:
            name = tiktoken.encoding_name_for_model(bare)
        except KeyError:
            name = None
        return offline_encoding(name)
    return offline_encoding()


def count_tokens(text: str, model: str | None = None) -> int:
    """Tokens in `text`. Special-token markers in untrusted text are counted as plain text."""
    if not text:
        return 0
    if len(text) <= _REMEMBERED_CHARS:
        return _counted(text, model)
    return len(encoding_for(model).encode(text, disallowed_special=()))


# The same texts are counted again and again (a prompt's system text and tools on every turn,
# the help-center articles every ticket's search returns): counting is a full encoding.
_REMEMBERED_CHARS = 32_768


@lru_cache(maxsize=2048)
def _counted(text: str, model: str | None) -> int:
    return len(encoding_for(model).encode(text, disallowed_special=()))


def truncate_to_tokens(text: str, budget: int, model: str | None = None) -> tuple[str, int]:
    """The longest prefix of `text` within `budget` tokens, and how many tokens `text` has.

    One encoding of the whole text; the prefix is cut at a token boundary and never splits
    a character (a partial UTF-8 sequence at the cut is dropped)."""
    tokens = encoding_for(model).encode(text, disallowed_special=())
    if len(tokens) <= budget:
        return text, len(tokens)
    head = encoding_for(model).decode_bytes(tokens[:budget])
    return head.decode("utf-8", errors="ignore"), len(tokens)


def count_message_tokens(request: ModelRequest, model: str | None = None) -> int:
    """Approximate prompt size of `request`: system, messages, tool calls, tool and output schemas.

    Vendors add their own hidden framing (tool-use preambles, schema rendering),
    so treat this as an estimate to budget against, not an exact bill.
    """
    total = _REPLY_PRIMING
    if request.system:
        total += _PER_MESSAGE + count_tokens(request.system, model)
    for message in request.messages:
        total += _PER_MESSAGE + count_tokens(message.role, model) + count_tokens(message.content, model)
        for call in message.tool_calls:
            total += count_tokens(call.name, model) + count_tokens(_dumps(call.arguments), model)
        if message.tool_call_id:
            total += count_tokens(message.tool_call_id, model)
    for tool in request.tools:
        total += _PER_MESSAGE
        total += count_tokens(tool.name, model) + count_tokens(tool.description, model)
        total += count_tokens(_dumps(tool.input_schema), model)
    if request.output_schema is not None:
        total += _PER_MESSAGE + count_tokens(_dumps(request.output_schema), model)
    return total


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
