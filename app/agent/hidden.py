"""Texts hidden inside a text, decoded: what a model or a person reads in it at a glance that the
text's own characters do not say. Base64 and hex runs, percent-encoding, HTML references, JSON
and C escapes, quoted-printable and MIME words, base32, dotted initials, letters spaced apart,
long runs of separators squeezed, invisible characters standing between words as spaces, and
text reversed behind a right-to-left override shown in the order it displays in.

The detector scans each of these again, and provenance compares argument values with them
(app/agent/injection.py: `texts` gives both the same list).
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from collections.abc import Iterable
from urllib.parse import unquote

from bidi import get_base_level, get_display

_B64_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX = re.compile(r"(?:(?:\\x|0x)?[0-9A-Fa-f]{2}[\s:,]?){8,}")
_HEX_TOKEN = re.compile(r"(?:\\x|0x|x)?[0-9a-f]{2}")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")  # one escape is enough: "v%69p", "ignore%20all"
# Numeric references need no `;` (browsers and html.unescape read `&#118` as `v`).
_ENTITY = re.compile(r"&#[0-9]{2,7};?|&#x[0-9A-Fa-f]{2,6};?|&[a-z]{2,8};")
# JSON's \u escapes, quoted-printable's =XX, base32 runs, and initials split by dots (V.I.P.):
# forms a model reads at a glance, so provenance and the detector read them too.
# \u0076, \u{76} (JavaScript, Rust), \U00000076 (Python), \x76 (C and most languages).
_U_ESCAPE = re.compile(
    r"\\u\{([0-9A-Fa-f]{1,6})\}|\\U([0-9A-Fa-f]{8})|\\u([0-9A-Fa-f]{4})|\\x([0-9A-Fa-f]{2})"
)
# A MIME encoded-word (an email header's =?utf-8?B?...?= or =?utf-8?Q?...?=).
_MIME_WORD = re.compile(r"=\?[\w-]+\?[BbQq]\?[^?\s]*\?=")
_QP = re.compile(r"(?:=[0-9A-F]{2}){3,}")
_B32_TOKEN = re.compile(r"(?<![A-Za-z0-9])[A-Z2-7]{16,}={0,6}(?![A-Za-z0-9])")
_INITIALS = re.compile(r"(?<!\w)(?:[^\W\d_][.\-·*|]){2,}[^\W\d_](?![^\W_])\.?")
_SPACED = re.compile(r"(?<!\w)(?:\w[ .\-_*|]{1,2}){4,}\w(?!\w)")


def _printable(raw: bytes) -> str | None:
    """Decoded bytes as text, if they read as text (not binary that happened to decode)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(text) < 6:
        return None
    good = sum(1 for ch in text if ch.isprintable() or ch in "\n\r\t")
    letters = sum(1 for ch in text if ch.isalpha())
    return text if good >= 0.95 * len(text) and letters >= 4 else None


def _base64_texts(text: str) -> Iterable[str]:
    """Decoded base64 runs: single tokens, and wrapped blocks (consecutive long tokens)."""
    blocks: list[list[str]] = [[]]
    inside: set[str] = set()  # runs inside a token: base64 in a JSON string, a MIME encoded-word
    for token in text.split():
        token = token.strip("\"'()[]{}<>,;:")
        if len(token) >= 16 and _B64_TOKEN.fullmatch(token):
            blocks[-1].append(token)
            continue
        if len(token) >= 16:
            inside.update(_B64_TOKEN.findall(token))
        if blocks[-1]:
            blocks.append([])
    candidates = {t for block in blocks for t in block} | {"".join(b) for b in blocks if len(b) > 1} | inside
    for token in sorted(candidates):
        body = token.rstrip("=")
        if body.isalpha() and (body.islower() or body.isupper() or body.istitle()):
            continue  # a long plain word, not an encoding
        if re.fullmatch(r"[0-9A-Fa-f]+", body):
            continue  # hex: decoded on its own
        padded = body.replace("-", "+").replace("_", "/")
        padded += "=" * (-len(padded) % 4)
        try:
            raw = base64.b64decode(padded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if (decoded := _printable(raw)) is not None:
            yield decoded


def _unescaped(text: str) -> str:
    """Escapes replaced by their characters; a surrogate pair (`\\ud83d\\ude0a`, as JSON writes
    an emoji) joined into its character, a lone surrogate dropped."""

    def one(m: re.Match[str]) -> str:
        code = int(next(g for g in m.groups() if g is not None), 16)
        return chr(code) if code <= 0x10FFFF else ""

    joined = _U_ESCAPE.sub(one, text)
    return joined.encode("utf-16", "surrogatepass").decode("utf-16", "replace").replace("\ufffd", "")


def _mime_word(m: re.Match[str]) -> str:
    from email.header import decode_header

    try:
        return "".join(
            part.decode(charset or "utf-8", "replace") if isinstance(part, bytes) else part
            for part, charset in decode_header(m.group())
        )
    except (ValueError, LookupError):
        return m.group()


def _escaped_texts(text: str) -> list[str]:
    """JSON \\u escapes, quoted-printable, base32 runs and dotted initials, decoded."""
    out: list[str] = []
    if ("\\u" in text or "\\U" in text or "\\x" in text) and _U_ESCAPE.search(text):
        out.append(_unescaped(text))
    if "=?" in text and _MIME_WORD.search(text):
        out.append(_MIME_WORD.sub(_mime_word, text))
    if "=" in text and _QP.search(text):
        out.append(
            _QP.sub(lambda m: bytes.fromhex(m.group().replace("=", "")).decode("utf-8", "replace"), text)
        )
    for token in _B32_TOKEN.findall(text) if len(text) >= 16 else ():
        try:
            raw = base64.b32decode(token + "=" * (-len(token.rstrip("=")) % 8 if "=" not in token else 0))
        except (binascii.Error, ValueError):
            continue
        if (decoded := _printable(raw)) is not None:
            out.append(decoded)
    if _INITIALS.search(text):
        out.append(_INITIALS.sub(lambda m: re.sub(r"[.\-·*|]", "", m.group()), text))
    return out


def _hex_texts(text: str) -> Iterable[str]:
    for m in _HEX.finditer(text):
        digits = re.sub(r"\\x|0x|[\s:,]", "", m.group())
        try:
            raw = bytes.fromhex(digits[: len(digits) // 2 * 2])
        except ValueError:
            continue
        if (decoded := _printable(raw)) is not None:
            yield decoded


LONG_SEPARATORS = re.compile(r"[\W_]{17,}")


def _squeezed(text: str) -> str:
    return LONG_SEPARATORS.sub(lambda m: "".join(dict.fromkeys(m.group())), text)  # each once


def _letter_run(words: list[str]) -> int:
    """The longest run of one-character words ("i g n o r e")."""
    best = run = 0
    for w in words:
        run = run + 1 if len(w) == 1 else 0
        best = max(best, run)
    return best


# Bidi formatting (UAX #9's explicit embeddings, overrides and isolates, and the right-to-left
# marks): without it, text shows in the order it is written (Hebrew and Arabic as their readers
# read them); with it, a person may see another order than a model reads.
_LAYOUT = re.compile("[\u200f\u061c\u202a-\u202e\u2066-\u2069]")
_BIDI_FORMATTING = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")
_PARAGRAPHS = re.compile("([\n\r\x1c\x1d\x1e\x85\u2029])")
_OPENERS = frozenset("\u202a\u202b\u202d\u202e\u2066\u2067\u2068")
_RIGHT_TO_LEFT_OPENERS = frozenset("\u202b\u202e\u2067")  # FSI is taken as LRI
_ISOLATE_OPENERS = frozenset("\u2066\u2067\u2068")
_MAX_LEVEL = 125  # UAX #9's max_depth: openers past it overflow and change nothing
_CARRIED = 8  # openers still open carried to the next line (the innermost)
_LINES_A_CALL = 64  # python-bidi's work on one call grows with its paragraphs x its length
_LATIN_WORDS = re.compile(r"[A-Za-z]{2,}")

# A sentence written as one identifier: three words or more joined by _ or -, or camelCase and
# PascalCase, a word in capitals among them (IgnoreALLPreviousInstructions). A word in capitals
# ends before a capital that starts a word (`ALL` in ALLPrevious): no backtracking. (Only an
# instruction override counts in such a form: injection._scan.)
_CAPS_WORD = r"[A-Z](?:[A-Z](?![a-z]))+"
_COMPOUND = re.compile(
    r"(?<![^\W\d_])[^\W\d_]+(?:[_-][^\W\d_]+){2,}"
    rf"|(?<![^\W\d_])(?:[A-Za-z][a-z]+|{_CAPS_WORD})(?:[A-Z][a-z]+|{_CAPS_WORD}){{2,}}"
)
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _split_compound(m: re.Match[str]) -> str:
    return _CAMEL.sub(" ", m.group()).replace("_", " ").replace("-", " ")


def _display_order(text: str, base: str | None = "L") -> str:
    """`text` as a renderer lays it out, the formatting characters gone: the Unicode bidi
    algorithm (UAX #9) as its reference implementation runs it (python-bidi: the unicode-bidi
    crate). `base`: each paragraph read left to right ("L", as most pages show text), or in the
    direction of its first strong letter (None: P2-P3, as dir="auto" and mail clients do). Each
    line (U+2028) is laid out on its own (rules L1-L2 work per line), opening with the innermost
    openers earlier lines left open; lines are laid out a few dozen to a call, so the work stays
    linear in the text."""
    out: list[str] = []
    for paragraph in _PARAGRAPHS.split(text):
        if not _LAYOUT.search(paragraph):
            out.append(paragraph)
            continue
        direction = base or ("R" if get_base_level(paragraph) % 2 else "L")
        out.append("\u2028".join(_laid_out(_lines(paragraph), direction)))
    return _BIDI_FORMATTING.sub("", "".join(out))


def _laid_out(lines: list[str], direction: str) -> list[str]:
    shown = [""] * len(lines)  # a line of formatting alone shows nothing
    todo = [i for i, line in enumerate(lines) if _BIDI_FORMATTING.sub("", line)]
    for start in range(0, len(todo), _LINES_A_CALL):
        batch = todo[start : start + _LINES_A_CALL]
        done = get_display("\n".join(lines[i] for i in batch), base_dir=direction).split("\n")
        if len(done) != len(batch):  # never expected: lay each out alone
            done = [get_display(lines[i], base_dir=direction) for i in batch]
        for i, line in zip(batch, done, strict=True):
            shown[i] = line
    return shown


def _lines(paragraph: str) -> list[str]:
    """The paragraph's lines, each opening with the innermost embeddings, overrides and isolates
    still open from the lines before."""
    if "\u2028" not in paragraph:
        return [paragraph]
    lines: list[str] = []
    still = _Open()
    for line in paragraph.split("\u2028"):
        lines.append("".join(opener for opener, _, _ in still.stack[-_CARRIED:]) + line)
        for ch in line:
            still.feed(ch)
    return lines


class _Open:
    """What is open at a point of a paragraph, by UAX #9's rules X1-X8 (levels, and openers past
    level 125 counted as overflow that their closers only cancel)."""

    def __init__(self) -> None:
        self.stack: list[tuple[str, int, bool]] = []  # (opener, its level, isolate?)
        self.isolates = self.overflow_isolates = self.overflow_embeddings = 0

    def feed(self, ch: str) -> None:
        if ch in _OPENERS:
            self._open(ch)
        elif ch == "\u202c":  # PDF: closes an embedding or override, never an isolate
            if self.overflow_embeddings and not self.overflow_isolates:
                self.overflow_embeddings -= 1
            elif not self.overflow_isolates and self.stack and not self.stack[-1][2]:
                self.stack.pop()
        elif ch == "\u2069":  # PDI: closes the innermost isolate and what opened in it
            if self.overflow_isolates:
                self.overflow_isolates -= 1
            elif self.isolates:
                self.overflow_embeddings = 0
                while not self.stack.pop()[2]:
                    pass
                self.isolates -= 1

    def _open(self, ch: str) -> None:
        isolate = ch in _ISOLATE_OPENERS
        top = self.stack[-1][1] if self.stack else 0
        level = top + 1 if (top + 1) % 2 == (ch in _RIGHT_TO_LEFT_OPENERS) else top + 2
        if level <= _MAX_LEVEL and not self.overflow_isolates and not self.overflow_embeddings:
            self.stack.append((ch, level, isolate))
            self.isolates += isolate
        elif isolate:
            self.overflow_isolates += 1
        elif not self.overflow_isolates:
            self.overflow_embeddings += 1


def _moves_words(written: str, shown: str) -> bool:
    """Whether the layout puts Latin words in another order than written: what can make a
    sentence a model does not read. Hebrew or Arabic runs moved around them (their numbers with
    them) do not."""
    return _LATIN_WORDS.findall(written) != _LATIN_WORDS.findall(shown)


def texts(
    raw: str, cased: str, lowered: str, words: list[str], invisible: re.Pattern[str]
) -> list[tuple[str, str]]:
    """(hidden text, how it was hidden) for each text hidden in `raw`; `cased` and `lowered` are
    its normalized forms (invisible characters gone), `words` its words, `invisible` a pattern
    of one invisible character."""
    out: list[tuple[str, str]] = []
    if any(len(token) >= 16 for token in cased.split()):
        out += [(d, "base64") for d in _base64_texts(cased)]
    if sum(1 for w in words if len(w) <= 4 and _HEX_TOKEN.fullmatch(w)) >= 8 or any(
        len(w) >= 16 and w.strip("0123456789abcdefx") == "" for w in words
    ):
        out += [(d, "hex") for d in _hex_texts(cased)]
    if "%" in cased and _PERCENT.search(cased):
        out.append((unquote(cased), "percent"))
    if "&" in cased and _ENTITY.search(cased) and (unescaped := html.unescape(cased)) != cased:
        out.append((unescaped, "html"))
    if _letter_run(words) >= 5 and (spaced := _SPACED.findall(lowered)):
        out.append(("  ".join(re.sub(r"(?<=\w)[ .\-_*|](?=\w)", "", s) for s in spaced), "spaced"))
    out += [(d, "escaped") for d in _escaped_texts(cased)]
    if LONG_SEPARATORS.search(cased):
        out.append((_squeezed(cased), "padded"))
    if (between := re.sub(rf"(?<=\w)(?:{invisible.pattern})+(?=\w)", " ", raw)) != raw:
        out.append((between, "invisible spaces"))  # "ignore\u200ball": the model reads two words
    if _LAYOUT.search(raw):
        written = _BIDI_FORMATTING.sub("", raw)
        for shown in dict.fromkeys((_display_order(raw), _display_order(raw, None))):
            if _moves_words(written, shown):
                out.append((shown, "reversed"))
    if _COMPOUND.search(cased):  # Ignore_all_previous_instructions, IgnoreAllPreviousInstructions
        out.append(
            (
                _COMPOUND.sub(
                    lambda m: _CAMEL.sub(" ", m.group()).replace("_", " ").replace("-", " "), cased
                ),
                "joined words",
            )
        )
    return out
