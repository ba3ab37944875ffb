from __future__ import annotations

import pytest

from app.llm.anthropic_model import AnthropicModel
from app.llm.base import Model
from app.llm.factory import build_model
from app.llm.openai_model import OpenAIModel
from app.llm.scripted import ScriptedModel

SECRET = "sk-never-print-me"


def test_anthropic_spec() -> None:
    model = build_model("anthropic:claude-sonnet-4-5", anthropic_api_key=SECRET)
    assert isinstance(model, AnthropicModel)
    assert model.name == "anthropic:claude-sonnet-4-5"
    assert isinstance(model, Model)


def test_openai_spec() -> None:
    model = build_model("openai:gpt-4o-mini", openai_api_key=SECRET)
    assert isinstance(model, OpenAIModel)
    assert model.name == "openai:gpt-4o-mini"


def test_openai_with_base_url_needs_no_key() -> None:
    model = build_model("openai:qwen2.5", openai_base_url="http://127.0.0.1:11434/v1")
    assert isinstance(model, OpenAIModel)


@pytest.mark.parametrize(
    ("spec", "env_var"),
    [("anthropic:claude-haiku-4-5", "ANTHROPIC_API_KEY"), ("openai:gpt-4o", "OPENAI_API_KEY")],
)
def test_missing_key_names_the_env_var(spec: str, env_var: str) -> None:
    # the other vendor's key is no substitute, and must not show up in the error
    with pytest.raises(ValueError, match=env_var) as caught:
        build_model(
            spec,
            anthropic_api_key=SECRET if env_var == "OPENAI_API_KEY" else None,
            openai_api_key=SECRET if env_var == "ANTHROPIC_API_KEY" else None,
        )
    assert SECRET not in str(caught.value)


def test_local_uses_the_callers_factory() -> None:
    built: list[Model] = []

    def factory() -> Model:
        model = ScriptedModel()
        built.append(model)
        return model

    model = build_model("local", local_factory=factory)
    assert built == [model]


def test_local_without_a_factory_is_an_error() -> None:
    with pytest.raises(ValueError, match="local_factory"):
        build_model("local")


def test_scripted() -> None:
    assert isinstance(build_model("scripted"), ScriptedModel)


@pytest.mark.parametrize("spec", ["", "gpt-4o", "mistral:large", "anthropic:", "openai:", "local:extra"])
def test_bad_specs_are_rejected(spec: str) -> None:
    with pytest.raises(ValueError, match="spec"):
        build_model(spec, anthropic_api_key=SECRET, openai_api_key=SECRET, local_factory=ScriptedModel)
