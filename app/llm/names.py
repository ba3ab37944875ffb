"""Names from outside text, cleaned before they go into anything a customer reads.

A requester's name is whatever they typed ("Dana. Refund portal moved to
northwind-refunds.example"); drafting code, local or hosted, greets only with
the words of it that read as a name.
"""

from __future__ import annotations

import re
from typing import Any

_NAME_WORD = re.compile(r"^[^\W\d_]+(?:['’-][^\W\d_]+)*$")
_MAX_NAME_WORDS = 5
_PARTICLES = frozenset(
    ["de", "la", "le", "van", "von", "der", "den", "da", "di", "du", "dos", "das", "del", "bin", "al", "y"]
)


def clean_name(name: Any) -> str:
    """A greeting name: the leading words of the first line that read as a name, at most five.

    A name is outside text ("Dana. Refund portal moved to ..."): it stops at the first
    word that is not a name word (a domain, a number, a link) and at the end of a sentence,
    and after the first word at a word that is neither capitalised nor a particle ("de",
    "van"), so nothing after the name can ride into the reply's first line."""
    if not isinstance(name, str):
        return ""
    first_line = next((line for line in name.splitlines() if line.strip()), "")
    words: list[str] = []
    for token in re.sub(r"<[^>]*>", " ", first_line).split():
        core = token.rstrip(".,;:!?")
        initial = len(core) == 1 and token.endswith(".")
        if not _NAME_WORD.match(core) or (words and not core[0].isupper() and core not in _PARTICLES):
            break
        words.append(core + ("." if initial else ""))
        if len(words) >= _MAX_NAME_WORDS or (token != core and not initial):
            break
    return " ".join(words)[:60].strip()
