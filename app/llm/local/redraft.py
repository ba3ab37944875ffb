"""Acting on a reviewer's reason: the offline engine redrafts a rejected reply.

A hosted model reads "wrong tone" and writes again; the local engine has no
language model, so it recognises the few reasons it can act on (tone and
formality, length, warmth) and rewrites the same reply accordingly. Any other
reason is not something it can act on: the write is then simply not done.
"""

from __future__ import annotations

import re

_FORMAL = re.compile(r"\b(tone|formal|casual|informal|rude|blunt|unprofessional|professional|polite)\b", re.I)
_SHORTER = re.compile(r"\b(too long|shorter|concise|brief|wordy|shorten|trim)\b", re.I)
_WARMER = re.compile(r"\b(warmer|friendlier|cold|empath\w*|apolog\w*|sorry|kinder|harsh)\b", re.I)

CONTRACTIONS = {
    "we're": "we are",
    "we'll": "we will",
    "we've": "we have",
    "don't": "do not",
    "doesn't": "does not",
    "can't": "cannot",
    "won't": "will not",
    "isn't": "is not",
    "it's": "it is",
    "i'm": "I am",
    "you're": "you are",
    "you'll": "you will",
    "that's": "that is",
    "let's": "let us",
    "there's": "there is",
    "hasn't": "has not",
    "haven't": "have not",
    "aren't": "are not",
    "wasn't": "was not",
    "didn't": "did not",
    "couldn't": "could not",
    "wouldn't": "would not",
    "shouldn't": "should not",
    "i'll": "I will",
    "i've": "I have",
    "they're": "they are",
}
APOLOGY = "We are sorry for the trouble this has caused, and we appreciate your patience."


def what_to_change(reason: str) -> list[str]:
    """Which rewrites a reason asks for, in the order they are applied: formal, shorter, warmer."""
    found = []
    if _FORMAL.search(reason):
        found.append("formal")
    if _SHORTER.search(reason):
        found.append("shorter")
    if _WARMER.search(reason):
        found.append("warmer")
    return found


def _formal(text: str) -> str:
    def expand(match: re.Match[str]) -> str:
        word = match.group(0)
        full = CONTRACTIONS[word.lower().replace("’", "'")]
        return full[0].upper() + full[1:] if word[0].isupper() else full

    pattern = re.compile(r"\b(" + "|".join(re.escape(k) for k in CONTRACTIONS) + r")\b", re.I)
    text = pattern.sub(expand, text.replace("’", "'"))
    text = re.sub(r"^(Hi|Hey|Hello)\b\s*", "Dear ", text, count=1, flags=re.M)
    text = re.sub(r"^Dear\s*,", "Dear customer,", text, count=1, flags=re.M)
    text = re.sub(r"!+", ".", text)
    text = re.sub(r"^(Cheers|Thanks|Best|Talk soon)[,!.]?\s*$", "Kind regards,", text, flags=re.M | re.I)
    return text


def _shorter(text: str) -> str:
    paragraphs = [p.strip() for p in text.strip().split("\n\n") if p.strip()]
    if len(paragraphs) <= 2:
        return text
    first, *middle, last = paragraphs
    kept = []
    for p in middle:
        sentences = re.split(r"(?<=[.!?])\s+", p)
        kept.append(" ".join(sentences[:2]))
    return "\n\n".join([first, *kept[:2], last]) + "\n"


def _warmer(text: str) -> str:
    if APOLOGY in text:
        return text
    greeting, _, rest = text.partition("\n")
    if rest and greeting.rstrip().endswith(","):  # after the greeting
        return f"{greeting}\n\n{APOLOGY}\n\n{rest.lstrip()}"
    return f"{APOLOGY}\n\n{text}"


REWRITES = {"formal": _formal, "shorter": _shorter, "warmer": _warmer}


def redraft(body: str, reason: str) -> str | None:
    """The reply rewritten as the reason asks, or None when the reason is not one the engine can act on."""
    changes = what_to_change(reason)
    if not changes:
        return None
    text = body
    for change in changes:
        text = REWRITES[change](text)
    return text if text.strip() != body.strip() else None
