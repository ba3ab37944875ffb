"""What a model call cost, in US dollars, from the usage the vendor reported.

Prices are list prices per million tokens and change over time: this table is
for dashboards and budgets, not invoices. Model names are matched by the
longest prefix, so dated snapshots ("claude-sonnet-4-5-20250929",
"gpt-4o-2024-08-06") price like their family. Local, scripted and unknown
models (including anything behind an OpenAI-compatible base_url, such as vLLM
or Ollama) cost 0.0.

Usage semantics (set by the adapters): `input_tokens` excludes cached tokens;
`cache_read_tokens` and `cache_write_tokens` are billed at their own rates.
"""

from __future__ import annotations

from typing import NamedTuple

from app.llm.base import Usage


class Price(NamedTuple):
    """USD per million tokens."""

    input: float
    output: float
    cache_read: float
    cache_write: float


def _anthropic(input_: float, output: float) -> Price:
    # Anthropic: cache reads cost 0.1x input, 5-minute cache writes 1.25x input.
    return Price(input_, output, round(input_ * 0.1, 6), round(input_ * 1.25, 6))


def _openai(input_: float, output: float, cached: float) -> Price:
    # OpenAI bills no surcharge for writing the cache.
    return Price(input_, output, cached, input_)


PRICES: dict[str, Price] = {
    # Anthropic
    "claude-opus-4-5": _anthropic(5.0, 25.0),
    "claude-opus-4": _anthropic(15.0, 75.0),
    "claude-3-opus": _anthropic(15.0, 75.0),
    "claude-sonnet-4": _anthropic(3.0, 15.0),
    "claude-3-7-sonnet": _anthropic(3.0, 15.0),
    "claude-3-5-sonnet": _anthropic(3.0, 15.0),
    "claude-haiku-4-5": _anthropic(1.0, 5.0),
    "claude-3-5-haiku": _anthropic(0.8, 4.0),
    "claude-3-haiku": _anthropic(0.25, 1.25),
    # OpenAI
    "gpt-5-nano": _openai(0.05, 0.40, 0.005),
    "gpt-5-mini": _openai(0.25, 2.0, 0.025),
    "gpt-5": _openai(1.25, 10.0, 0.125),
    "gpt-4.1-nano": _openai(0.10, 0.40, 0.025),
    "gpt-4.1-mini": _openai(0.40, 1.60, 0.10),
    "gpt-4.1": _openai(2.0, 8.0, 0.50),
    "gpt-4o-mini": _openai(0.15, 0.60, 0.075),
    "gpt-4o": _openai(2.50, 10.0, 1.25),
    "o4-mini": _openai(1.10, 4.40, 0.275),
    "o3-mini": _openai(1.10, 4.40, 0.55),
    "o3-pro": Price(20.0, 80.0, 20.0, 20.0),
    "o3": _openai(2.0, 8.0, 0.50),
}

# Longest first, so "gpt-4o-mini" wins over "gpt-4o" and "claude-opus-4-5" over "claude-opus-4".
_BY_LENGTH = sorted(PRICES, key=len, reverse=True)


def price_for(model_name: str) -> Price | None:
    """The price row for `model_name` ("anthropic:claude-...", "openai:gpt-4o" or bare), or None."""
    bare = model_name.split(":", 1)[1] if ":" in model_name else model_name
    bare = bare.strip().lower()
    for prefix in _BY_LENGTH:
        if bare.startswith(prefix):
            return PRICES[prefix]
    return None


def cost_usd(model_name: str, usage: Usage) -> float:
    """Dollar cost of one call; 0.0 for models we do not pay per token for."""
    price = price_for(model_name)
    if price is None:
        return 0.0
    total = (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_read_tokens * price.cache_read
        + usage.cache_write_tokens * price.cache_write
    )
    return total / 1_000_000
