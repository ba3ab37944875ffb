"""Instruction-like text inside data from outside: a deterministic, fast detector.

Why: a model that reads a ticket, an article, a CRM note or an invoice can be
steered by text in it ("ignore previous instructions", "APPROVED BY MANAGER",
"new bank details"). The gate cannot tell whether a proposed write was steered,
but it can know that the run read such text; `Policy.assess` then makes every
write of that run high risk and says why, so a person looks twice and no
standing rule lets the write through unseen.

How: text is normalized first (Unicode NFKC; zero-width, bidi and other
invisible controls removed; Unicode tag characters decoded, since they smuggle
ASCII invisibly; Cyrillic/Greek look-alikes mapped to Latin; accents folded;
case folded) and matched against phrase patterns in English, German, French,
Spanish, Italian, Portuguese and Dutch plus a few Japanese and Chinese phrases.
Embedded base64, hex, percent-encoded, HTML-entity, rot13 and letter-spaced text
is decoded and scanned as well. No model and no network: the same text always
gives the same findings, and a typical ticket takes well under a millisecond.

The tables (phrase rules per kind and language, look-alike letters, invisible
code points) are data in `injection_rules/`, apart from this engine. The detector
is one signal among the gate's checks; what decides whether a write may run
unseen is structural (facts, provenance, links: see policy.py).

Patterns lean towards precision: ordinary tickets ("please ignore my previous
email", "I need admin access", "send the invoice to my work address") must not
trip them, so most phrases need an object that only an attack would name
(previous *instructions*, approved by *the manager*, *all* customer records).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from typing import Any

import yaml

from app.agent import hidden, values

RULES_DIR = Path(__file__).with_name("injection_rules")


def _load(name: str) -> Any:
    """One of the detector's tables (data, apart from this engine): injection_rules/NAME.yaml."""
    return yaml.safe_load((RULES_DIR / f"{name}.yaml").read_text(encoding="utf-8"))


_NORMALIZE = _load("normalize")
KIND_LABELS: dict[str, str] = dict(_NORMALIZE["kinds"])
EVIDENCE_CHARS = 60
MAX_FINDINGS = 20
MAX_DEPTH = 2  # decoded text is scanned again (base64 inside hex...), this many levels deep
MIN_VALUE_CHARS = 12  # shorter strings in read results (ids, statuses, dates) are not scanned


@dataclass(frozen=True)
class Finding:
    kind: str  # a key of KIND_LABELS
    evidence: str  # the matched text, normalized, at most EVIDENCE_CHARS
    language: str  # en, de, fr, es, it, pt, nl, ja, zh
    encoding: str | None = None  # base64, hex, percent, html, rot13, spaced: how it was hidden

    @property
    def label(self) -> str:
        how = f" in {self.encoding}" if self.encoding else ""
        return f"{KIND_LABELS[self.kind]}{how}: '{self.evidence}'"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "evidence": self.evidence,
            "language": self.language,
            "encoding": self.encoding,
        }


# --- normalization -----------------------------------------------------------------------

HOMOGLYPHS: dict[str, str] = dict(_NORMALIZE["homoglyphs"])
_INVISIBLE_RANGES = tuple((int(lo, 16), int(hi, 16)) for lo, hi in _NORMALIZE["invisible_ranges"])


_INVISIBLE = re.compile(
    "[" + "".join(f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" for lo, hi in _INVISIBLE_RANGES) + "]"
)
# Characters that show as a blank without being spaces (Hangul fillers): a space in every form.
_BLANKS = frozenset(int(code, 16) for code in _NORMALIZE["blanks"])


def _invisible(o: int) -> bool:
    return any(lo <= o <= hi for lo, hi in _INVISIBLE_RANGES)


@lru_cache(maxsize=16384)
def _fold_char(c: str) -> tuple[str, str]:
    """(display, folded) forms of one character; both '' for invisible ones.

    display: NFKC, look-alikes mapped, case and accents kept (what a reason quotes);
    folded: display without accents (what patterns match, after lower-casing).
    """
    o = ord(c)
    if 0xE0020 <= o <= 0xE007E:  # a Unicode tag character: invisible ASCII, so decode it
        c = chr(o - 0xE0000)
        return c, c
    if _invisible(o):
        return "", ""
    if 0x1F150 <= o <= 0x1F169 or 0x1F170 <= o <= 0x1F189:  # negative circled and squared A-Z
        c = chr(ord("A") + (o - 0x1F150) % 0x20)
    if c.isspace() or o in _BLANKS:
        return ("\n", "\n") if c in "\n\r\x0b\x0c\x85\u2028\u2029" else (" ", " ")
    display = "".join(HOMOGLYPHS.get(ch, ch) for ch in unicodedata.normalize("NFKC", c))
    # Marks go, enclosing ones (a keycap, a circle drawn around a letter) with the accents.
    folded = "".join(
        ch
        for ch in unicodedata.normalize("NFKD", display)
        if not unicodedata.combining(ch) and unicodedata.category(ch) not in ("Mn", "Me")
    )
    return display, folded


class _FoldTable(dict[int, str]):
    """A str.translate table filled on first sight of each character (translate runs in C)."""

    def __init__(self, lower: bool):
        super().__init__()
        self.lower = lower

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))[1]
        out = folded.lower() if self.lower else folded
        self[code] = out
        return out


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_CASED = _FoldTable(lower=False)
_LOWERED = _FoldTable(lower=True)


@dataclass
class _Text:
    """One text in the forms patterns see; offsets map back to the original for quoting."""

    original: str
    cased: str  # folded, case kept (for the few case-sensitive rules)
    lowered: str  # folded and lower-cased (for the rest)
    words: list[str] = field(default_factory=list)  # filled by the first match pass
    offsets: dict[bool, list[int]] = field(default_factory=dict)  # by `cased`: see _ends

    @classmethod
    def of(cls, text: str) -> _Text:
        if text.isascii():
            return cls(text, text, text.lower())
        if len(text.encode("utf-8")) - len(text) < len(text) // 8:  # mostly ASCII: fold the rest only
            cased = _NON_ASCII.sub(lambda m: "".join(_fold_char(c)[1] for c in m.group()), text)
        else:
            cased = text.translate(_CASED)
        lowered = cased.lower()
        if len(lowered) != len(cased):  # a character that lower-cases to two: keep offsets exact
            lowered = text.translate(_LOWERED)
        return cls(text, cased, lowered)

    def _ends(self, cased: bool) -> list[int]:
        """Where each original character ends in the folded form (built once per form)."""
        if cased not in self.offsets:
            table = _CASED if cased else _LOWERED
            self.offsets[cased] = list(accumulate(len(table[ord(c)]) for c in self.original))
        return self.offsets[cased]

    def evidence(self, start: int, end: int, *, cased: bool = False) -> str:
        """The original text behind folded offsets [start, end), shown normalized."""
        if self.original.isascii():
            return _clip(self.original[start:end])
        ends = self._ends(cased)
        first = bisect_right(ends, start)
        last = bisect_right(ends, max(start, end - 1))
        return _clip("".join(_fold_char(c)[0] for c in self.original[first : last + 1]))


def _clip(snippet: str) -> str:
    snippet = " ".join(snippet.split())
    return snippet if len(snippet) <= EVIDENCE_CHARS else snippet[: EVIDENCE_CHARS - 1].rstrip() + "…"


def normalize(text: str) -> str:
    """The form patterns see: NFKC, invisible characters removed, look-alikes mapped,
    accents and case folded, whitespace collapsed (for tests and for reading)."""
    return " ".join(_Text.of(text).lowered.split())


# --- patterns ----------------------------------------------------------------------------

_SEP = r"[\W_]+"  # what a space in a pattern stands for: any run of spaces and punctuation
_SEP_OPT = r"[\W_]{0,16}"  # what " ?" stands for; bounded: see hidden.LONG_SEPARATORS
_EMAIL = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
_URL = r"(?:https?://|www\.)\S+"


@dataclass(frozen=True)
class _Rule:
    kind: str
    language: str
    regex: re.Pattern[str]
    cased: bool  # matched against the case-kept form (e.g. an all-caps "SYSTEM:" header)
    # A cheap necessary condition: some word of the text starts with one of `words`, or the
    # text contains one of `substrings`. None: always run the regex.
    words: frozenset[str] | None
    substrings: tuple[str, ...]
    # The pattern's leading \b is checked in Python instead: without it re can skip ahead
    # on the first characters, which makes the common no-match case several times faster.
    word_start: bool


_WORD_KEY = 6  # a text word matches an anchor when it starts with the anchor's first characters


def _top_level(source: str, sep: str = "|") -> list[str]:
    """Split a regex source on `sep` outside groups and classes."""
    parts, depth, start, i, in_class = [], 0, 0, 0, False
    while i < len(source):
        c = source[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == sep and depth == 0:
            parts.append(source[start:i])
            start = i + 1
        i += 1
    parts.append(source[start:])
    return parts


def _literal_prefix(source: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(source):
        c = source[i]
        if c == "\\":
            nxt = source[i + 1 : i + 2]
            if not nxt or nxt.isalnum():
                break
            lit, step = nxt, 2
        elif c in "()[]{}|?*+.^$":
            break
        else:
            lit, step = c, 1
        if source[i + step : i + step + 1] in ("?", "*", "{"):
            break  # the character is optional
        out.append(lit)
        i += step
    return "".join(out)


_BOUNDARIES = (r"\b", r"(?<![\w-])", r"(?<!\w)", "^")


def _leads(alternative: str) -> list[tuple[str, bool]] | None:
    """The literals one alternative must start with, each with whether it starts a word."""
    at_word = False
    for b in _BOUNDARIES:
        if alternative.startswith(b):
            alternative, at_word = alternative[len(b) :], True
    if alternative.startswith("(?:"):
        depth, end = 0, -1
        for i, c in enumerate(alternative):
            if c == "\\":
                continue
            depth += c == "("
            depth -= c == ")"
            if depth == 0 and c == ")":
                end = i
                break
        if end < 0 or alternative[end + 1 : end + 2] in ("?", "*", "{"):
            return None
        out: list[tuple[str, bool]] = []
        for inner in _top_level(alternative[3:end]):
            lit = _literal_prefix(inner)
            if not lit:
                return None
            out.append((lit, at_word))
        return out
    lit = _literal_prefix(alternative)
    return [(lit, at_word)] if lit else None


def _anchors(source: str, given: tuple[str, ...]) -> tuple[frozenset[str] | None, tuple[str, ...]]:
    if given:
        leads: list[tuple[str, bool]] | None = [(g, g[:1].isalnum()) for g in given]
    else:
        leads = []
        for alternative in _top_level(source):
            found = _leads(alternative)
            if found is None:
                return None, ()
            leads.extend(found)
    words: set[str] = set()
    substrings: list[str] = []
    for lit, at_word in leads or []:
        key = re.match(r"[^\W_]+", lit.lower())
        if at_word and key and key.group().isascii() and lit[:1].isalnum():
            words.add(key.group()[:_WORD_KEY])
        else:
            substrings.append(lit.lower())
    return frozenset(words), tuple(substrings)


def _fold_source(source: str) -> str:
    return "".join(
        ch for ch in unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", source))
        if not unicodedata.combining(ch)
    )  # fmt: skip


def _compile(
    kind: str, language: str, source: str, anchors: tuple[str, ...] = (), *, cased: bool = False
) -> _Rule:
    folded = _fold_source(source).replace("EMAIL", _EMAIL).replace("URL", _URL)
    folded = folded.replace(" ?", _SEP_OPT).replace(" ", _SEP)
    words, substrings = _anchors(folded, tuple(_fold_source(a) for a in anchors))
    word_start = folded.startswith(r"\b") and len(_top_level(folded)) == 1
    if word_start:
        folded = folded[2:]
    regex = re.compile(folded, re.MULTILINE)
    return _Rule(kind, language, regex, cased, words, substrings, word_start)


def _rules() -> list[_Rule]:
    """The phrase rules from injection_rules/patterns.yaml, checked and compiled."""
    rules = []
    for n, entry in enumerate(_load("patterns"), start=1):
        if entry.get("kind") not in KIND_LABELS:
            raise ValueError(f"injection_rules/patterns.yaml rule {n}: unknown kind {entry.get('kind')!r}")
        rules.append(
            _compile(
                entry["kind"],
                entry["language"],
                entry["pattern"],
                tuple(entry.get("anchors") or ()),
                cased=bool(entry.get("cased", False)),
            )
        )
    return rules


RULES: list[_Rule] = _rules()


# --- encodings ---------------------------------------------------------------------------

_NOT_LATIN = ("ja", "zh")
_ROT13 = str.maketrans("abcdefghijklmnopqrstuvwxyz", "nopqrstuvwxyzabcdefghijklm")  # on folded text


class _Separators(dict[int, str]):
    """str.translate table: every character that is not a letter or digit becomes a space."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        out = ch if ch.isalnum() else " "
        self[code] = out
        return out


_TO_WORDS = _Separators()


# --- scanning -----------------------------------------------------------------------------


def _index(rules: list[_Rule]) -> tuple[dict[str, set[int]], dict[str, set[int]], set[int]]:
    """word key -> rules, substring -> rules, and the rules that always run."""
    by_word: dict[str, set[int]] = {}
    by_substring: dict[str, set[int]] = {}
    always: set[int] = set()
    for i, rule in enumerate(rules):
        if rule.words is None:
            always.add(i)
            continue
        for w in rule.words:
            by_word.setdefault(w, set()).add(i)
        for sub in rule.substrings:
            by_substring.setdefault(sub, set()).add(i)
    return by_word, by_substring, always


_BY_WORD, _BY_SUBSTRING, _ALWAYS = _index(RULES)
_KEY_LENGTHS = sorted({len(k) for k in _BY_WORD})
_ASCII_SUBSTRINGS = [(s, ids) for s, ids in _BY_SUBSTRING.items() if s.isascii()]
# Non-ASCII anchors (ja, zh) are found in one pass; a lookahead finds them at every position,
# and a found anchor also stands for the shorter anchors inside it.
_OTHER_SUBSTRINGS = {
    s: set().union(*(ids for t, ids in _BY_SUBSTRING.items() if t in s))
    for s in _BY_SUBSTRING
    if not s.isascii()
}
_CJK_RULES = {i for i, rule in enumerate(RULES) if rule.language in ("ja", "zh")}
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
_OTHER_FINDER = re.compile(
    "(?=(" + "|".join(re.escape(s) for s in sorted(_OTHER_SUBSTRINGS, key=len, reverse=True)) + "))"
)


def _candidates(text: str, words: list[str]) -> list[int]:
    """Indices of the rules whose anchors occur in the text, in rule order."""
    unique = set(words)
    ids = set(_ALWAYS)
    for n in _KEY_LENGTHS:
        for key in _BY_WORD.keys() & {w[:n] for w in unique}:
            ids |= _BY_WORD[key]
    for sub, rule_ids in _ASCII_SUBSTRINGS:
        if sub in text:
            ids |= rule_ids
    if not text.isascii() and _CJK.search(text):
        for sub in set(_OTHER_FINDER.findall(text)):
            ids |= _OTHER_SUBSTRINGS[sub]
    else:
        ids -= _CJK_RULES  # e.g. a Japanese exfiltration rule anchored on "@" in English text
    return sorted(ids)


def _match(t: _Text, encoding: str | None, out: list[Finding], *, rot13: bool = False) -> None:
    lowered = t.lowered.translate(_ROT13) if rot13 else t.lowered
    words = lowered.translate(_TO_WORDS).split()
    found: list[tuple[int, int, Finding]] = []
    for i in _candidates(lowered, words):
        rule = RULES[i]
        if rot13 and (rule.cased or rule.language in _NOT_LATIN):
            continue  # rot13 only moves Latin letters: these rules would just match the plain text again
        text = t.cased if rule.cased else lowered
        for m in rule.regex.finditer(text):
            start, end = m.span()
            if rule.word_start and start > 0 and text[start - 1].isalnum():
                continue
            # rot13: quote the decoded text, not the gibberish that was there
            evidence = _clip(text[start:end]) if rot13 else t.evidence(start, end, cased=rule.cased)
            found.append((start, end, Finding(rule.kind, evidence, rule.language, encoding)))
    # One finding per stretch of text and kind: the longest ("APPROVED BY MANAGER", not also "APPROVED BY").
    found.sort(key=lambda f: (f[0], -(f[1] - f[0])))
    kept: list[tuple[int, int, Finding]] = []
    for start, end, finding in found:
        if not any(k[2].kind == finding.kind and start < k[1] and k[0] < end for k in kept):
            kept.append((start, end, finding))
    out.extend(f for _, _, f in kept)
    if not rot13:
        t.words = words


# " ?" takes at most 16 separators, so "[[[[…" is not rescanned from each "["; a text padded past
# that is read again with each longer run squeezed ("[" + 17 spaces + "system]" -> "[ system]").
def _scan(text: str, encoding: str | None, depth: int, out: list[Finding]) -> None:
    t = _Text.of(text)
    _match(t, encoding, out)
    if encoding is None:
        _match(t, "rot13", out, rot13=True)
    if depth < MAX_DEPTH:
        for decoded, how in hidden.texts(text, t.cased, t.lowered, t.words, _INVISIBLE):
            found: list[Finding] = []
            _scan(decoded, encoding or how, depth + 1, found)
            # Words run together into identifiers (`approved_by_manager_at`, a setting's name)
            # are a system's fields, not a claim: only an override written so is an instruction.
            out += [f for f in found if how != JOINED or f.kind == "override"]


@lru_cache(maxsize=1024)
def readable_forms(text: str, depth: int = 0) -> tuple[str, ...]:
    """The text as the detector reads it (normalized, lower-cased) and every text hidden in it
    (base64, hex, percent-encoding, HTML references, letter-spacing; tag characters are decoded
    by normalizing). Provenance compares argument values with these, so an encoded instruction
    still counts as outside text."""
    t = _Text.of(text)
    forms = [t.lowered]
    if depth < MAX_DEPTH:
        for decoded, _ in hidden.texts(text, t.cased, t.lowered, t.words, _INVISIBLE):
            if decoded != text:
                forms += readable_forms(decoded, depth + 1)
    return tuple(forms)


def _scan_all(text: str) -> tuple[Finding, ...]:
    out: list[Finding] = []
    _scan(text, None, 0, out)
    seen: set[tuple[str, str]] = set()
    unique: list[Finding] = []
    for f in out:
        key = (f.kind, f.evidence.lower())
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return tuple(unique[:MAX_FINDINGS])


_scan_cached = lru_cache(maxsize=1024)(_scan_all)  # the policy rescans a run's item for each write
CACHE_CHARS = 20_000  # longer texts (big read results) are scanned once anyway: not worth keeping


def scan(text: str) -> list[Finding]:
    """Instruction-like phrases in `text` (plain or hidden), in the order found."""
    if not text or not text.strip():
        return []
    return list(_scan_cached(text) if len(text) <= CACHE_CHARS else _scan_all(text))


def scan_value(value: Any) -> list[Finding]:
    """Findings in every longer string of a read result, scanned as one text (one pass), and in
    its keys written as identifiers (`ignore_all_previous_instructions`: an override only)."""
    return scan_read(values.texts(value), instruction_keys(value))


def scan_read(texts: list[str], keys: list[tuple[str, Finding]]) -> list[Finding]:
    """`scan_value` of a value whose texts (`values.texts`) and `instruction_keys` the caller
    has already read: the gate reads them once for the findings and the text it keeps."""
    long = [s for s in texts if len(s) >= MIN_VALUE_CHARS]
    return (scan("\n".join(long)) if long else []) + [f for _, f in keys]


JOINED = "joined words"  # hidden.texts' name for identifiers read as words


def instruction_keys(value: Any) -> list[tuple[str, Finding]]:
    """(key, finding) for each key of `value` written as one identifier that spells an
    instruction override: outside text, as the key of several words is (values.texts)."""
    return [(k, f) for k in values.identifier_keys(value) for f in scan(k) if f.kind == "override"]


# --- the policy's view ----------------------------------------------------------------------

FACTS_KEY = "untrusted_findings"  # labels of findings in read results, added by policy.observe
# Set when the item's texts (facts["untrusted_text"]) are a record's separate values, a webhook
# event's strings, rather than the item's own fields of prose (a ticket's subject and body).
SEPARATE_VALUES = "untrusted_text_separate"


def risk_reason(facts: dict[str, Any]) -> str | None:
    """The one reason a write gets when the run saw instruction-like text, or None.

    The item's own text (facts["untrusted_text"]) is scanned here; read results were
    scanned when they arrived (their labels are in facts[FACTS_KEY]).
    """
    entries = [t for t in facts.get("untrusted_text") or [] if t]
    # Each field, and the fields as the model reads them, one after the other (a phrase split
    # between subject and body, a one-word subject included); of a record's separate values (an
    # event's, facts[SEPARATE_VALUES]) only the prose: "Finance", "approved" are not a passage.
    joinable = entries
    if facts.get(SEPARATE_VALUES):
        joinable = [t for t in entries if len(t) >= MIN_VALUE_CHARS or len(t.split()) > 1]
    joined = ["\n".join(joinable)] if len(joinable) > 1 else []
    item = [f.label for text in [*entries, *joined] for f in scan(text)]
    labels = list(dict.fromkeys([*item, *(facts.get(FACTS_KEY) or [])]))  # the item's first, once each
    if not labels:
        return None
    where = "the item" if item else "data read in this run"
    extra = f" and {len(labels) - 1} more" if len(labels) > 1 else ""
    return f"{where} contains instruction-like text ({labels[0]}{extra}); check this action was not steered by it"
