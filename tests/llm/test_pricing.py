from __future__ import annotations

import pytest

from app.llm.base import Usage
from app.llm.pricing import cost_usd, price_for

MILLION = 1_000_000


def test_input_and_output_are_priced_per_million() -> None:
    usage = Usage(input_tokens=MILLION, output_tokens=MILLION)
    assert cost_usd("anthropic:claude-sonnet-4-5-20250929", usage) == pytest.approx(3.0 + 15.0)
    assert cost_usd("openai:gpt-4o", usage) == pytest.approx(2.5 + 10.0)


def test_cache_reads_cost_less_than_fresh_input() -> None:
    for name in ("anthropic:claude-haiku-4-5", "openai:gpt-4.1", "claude-opus-4-1"):
        fresh = cost_usd(name, Usage(input_tokens=MILLION))
        cached = cost_usd(name, Usage(cache_read_tokens=MILLION))
        assert 0 < cached < fresh, name


def test_anthropic_cache_writes_cost_more_than_input() -> None:
    assert cost_usd("claude-sonnet-4", Usage(cache_write_tokens=MILLION)) == pytest.approx(3.75)


@pytest.mark.parametrize(
    ("name", "family_input_price"),
    [
        ("openai:gpt-4o-mini-2024-07-18", 0.15),  # not gpt-4o's price
        ("openai:gpt-4o-2024-08-06", 2.5),
        ("openai:gpt-4.1-mini", 0.40),
        ("anthropic:claude-opus-4-5-20251101", 5.0),  # not claude-opus-4's price
        ("anthropic:claude-opus-4-1-20250805", 15.0),
        ("claude-3-5-haiku-latest", 0.8),
        ("GPT-4O", 2.5),
    ],
)
def test_longest_prefix_wins(name: str, family_input_price: float) -> None:
    price = price_for(name)
    assert price is not None
    assert price.input == family_input_price


@pytest.mark.parametrize(
    "name", ["local", "scripted", "openai:llama3.1:8b", "anthropic:some-future-model", ""]
)
def test_free_or_unknown_models_cost_nothing(name: str) -> None:
    assert cost_usd(name, Usage(input_tokens=MILLION, output_tokens=MILLION)) == 0.0
