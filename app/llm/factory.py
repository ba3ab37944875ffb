"""Build the configured Model from a spec string (SWITCHBOARD_MODEL).

Specs: `local`, `scripted`, `anthropic:MODEL`, `openai:MODEL`. The vendor SDKs
are imported only when their adapter is asked for, and the local engine comes
from a factory the caller passes in, so `app.llm` never imports what sits in
`app.llm.local` (and its training data) unless it is used.
"""

from __future__ import annotations

from collections.abc import Callable

from app.llm.base import Model

SPEC_HELP = "use 'local', 'scripted', 'anthropic:MODEL' or 'openai:MODEL'"


def build_model(
    spec: str,
    *,
    anthropic_api_key: str | None = None,
    openai_api_key: str | None = None,
    openai_base_url: str | None = None,
    local_factory: Callable[[], Model] | None = None,
) -> Model:
    """The Model `spec` names. Raises ValueError naming what is missing (never a key's value)."""
    spec = spec.strip()
    provider, _, model = spec.partition(":")
    provider = provider.lower()
    model = model.strip()

    if provider == "local" and not model:
        if local_factory is None:
            raise ValueError("model spec 'local' needs the local engine factory (local_factory)")
        return local_factory()

    if provider == "scripted" and not model:
        from app.llm.scripted import ScriptedModel

        return ScriptedModel()

    if provider == "anthropic":
        if not model:
            raise ValueError(f"model spec {spec!r} names no model: {SPEC_HELP}")
        if not anthropic_api_key:
            raise ValueError(f"model spec {spec!r} needs ANTHROPIC_API_KEY to be set")
        from app.llm.anthropic_model import AnthropicModel

        return AnthropicModel(model, api_key=anthropic_api_key)

    if provider == "openai":
        if not model:
            raise ValueError(f"model spec {spec!r} names no model: {SPEC_HELP}")
        if not openai_api_key and not openai_base_url:
            raise ValueError(
                f"model spec {spec!r} needs OPENAI_API_KEY to be set "
                "(or OPENAI_BASE_URL for a local OpenAI-compatible server)"
            )
        from app.llm.openai_model import NO_KEY, OpenAIModel

        return OpenAIModel(model, api_key=openai_api_key or NO_KEY, base_url=openai_base_url)

    raise ValueError(f"unknown model spec {spec!r}: {SPEC_HELP}")
