"""Versioned prompt templates from the top-level prompts/ folder.

A template lives at prompts/<name>/v<N>.j2 and defines two blocks, `system`
and `user`. The newest version is used unless one is pinned; the version is
recorded on every step that used it. Outside text is passed through the
`untrusted` filter, which fences it as data and defuses any attempt to close
the fence from inside.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from app.llm.base import Message, ModelRequest

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"
_FENCE = re.compile(r"<\s*/?\s*untrusted_data", re.IGNORECASE)


def untrusted(value: Any, source: str = "external") -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str, indent=1)
    text = _FENCE.sub("[fence removed]", text)
    return f'<untrusted_data source="{source}">\n{text}\n</untrusted_data>'


@dataclass(frozen=True)
class RenderedPrompt:
    ref: str  # "triage/classify@v1"
    system: str
    user: str


class PromptLibrary:
    def __init__(self, root: Path = PROMPTS_DIR):
        self.root = root
        self.env = Environment(
            loader=FileSystemLoader(str(root)),
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
        )
        self.env.filters["untrusted"] = untrusted
        self.env.filters["tojson"] = lambda v: json.dumps(v, ensure_ascii=False, default=str)
        self._versions: dict[str, tuple[int, list[int]]] = {}

    def versions(self, name: str) -> list[int]:
        """The template versions on disk, read again only when the folder changed (a new file
        changes its mtime): every model call asks, and a glob costs more than the render."""
        folder = self.root / name
        try:
            stamp = folder.stat().st_mtime_ns
        except OSError:
            return []
        known = self._versions.get(name)
        if known is not None and known[0] == stamp:
            return known[1]
        found = sorted(int(p.stem[1:]) for p in folder.glob("v*.j2") if p.stem[1:].isdigit())
        self._versions[name] = (stamp, found)
        return found

    def latest(self, name: str) -> int:
        versions = self.versions(name)
        if not versions:
            raise FileNotFoundError(f"no prompt templates under {self.root / name}")
        return versions[-1]

    def render(self, name: str, variables: dict[str, Any], version: int | None = None) -> RenderedPrompt:
        v = version or self.latest(name)
        template = self.env.get_template(f"{name}/v{v}.j2")
        ctx = template.new_context(dict(variables))
        system = "".join(template.blocks["system"](ctx)).strip()
        user = "".join(template.blocks["user"](ctx)).strip()
        return RenderedPrompt(ref=f"{name}@v{v}", system=system, user=user)

    def request(
        self,
        name: str,
        variables: dict[str, Any],
        *,
        output_schema: dict[str, Any] | None = None,
        max_tokens: int = 1024,
        history: list[Message] | None = None,
    ) -> ModelRequest:
        """A model request from the newest template: its system prompt, one user turn, its ref."""
        p = self.render(name, variables)
        return ModelRequest(
            system=p.system,
            messages=[*(history or []), Message(role="user", content=p.user)],
            output_schema=output_schema,
            prompt=p.ref,
            variables=variables,
            max_tokens=max_tokens,
        )


@lru_cache(maxsize=1)
def default_library() -> PromptLibrary:
    return PromptLibrary()
