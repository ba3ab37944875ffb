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

Patterns lean towards precision: ordinary tickets ("please ignore my previous
email", "I need admin access", "send the invoice to my work address") must not
trip them, so most phrases need an object that only an attack would name
(previous *instructions*, approved by *the manager*, *all* customer records).
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate
from typing import Any
from urllib.parse import unquote

KIND_LABELS = {
    "override": "instruction override",
    "role": "role change",
    "fake_system": "fake system message",
    "fake_approval": "fake approval",
    "policy_change": "policy change",
    "exfiltration": "exfiltration",
    "payment_redirect": "payment redirection",
}
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

HOMOGLYPHS = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "ѐ": "e", "һ": "h", "і": "i", "ї": "i", "ј": "j",
    "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x",
    "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ӏ": "l", "ɡ": "g", "ү": "y", "ԍ": "g", "ո": "n",
    "А": "A", "В": "B", "Е": "E", "Ё": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
    "С": "C", "Т": "T", "Х": "X", "У": "Y", "І": "I", "Ј": "J", "Ѕ": "S", "Ԁ": "D", "Ԛ": "Q",
    "Ԝ": "W", "Ӏ": "I",
    # Greek
    "α": "a", "β": "b", "γ": "y", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "ω": "w", "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H",
    "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    # Armenian and Latin look-alikes NFKC keeps apart
    "օ": "o", "ս": "u", "ı": "i", "ɩ": "i", "ǀ": "l", "ʟ": "l", "ɪ": "i", "ᴀ": "a", "ᴇ": "e",
}  # fmt: skip
_INVISIBLE_RANGES = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0x1BCA0, 0x1BCA3),
    (0xE0000, 0xE007F),
    (0xE0100, 0xE01EF),
)


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
    if c.isspace():
        return ("\n", "\n") if c in "\n\r\x0b\x0c\x85\u2028\u2029" else (" ", " ")
    display = "".join(HOMOGLYPHS.get(ch, ch) for ch in unicodedata.normalize("NFKC", c))
    folded = "".join(ch for ch in unicodedata.normalize("NFKD", display) if not unicodedata.combining(ch))
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

    def evidence(self, start: int, end: int, *, cased: bool = False) -> str:
        """The original text behind folded offsets [start, end), shown normalized."""
        if self.original.isascii():
            return _clip(self.original[start:end])
        table = _CASED if cased else _LOWERED
        ends = list(accumulate(len(table[ord(c)]) for c in self.original))
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
_SEP_OPT = r"[\W_]*"  # what " ?" stands for
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


# Each entry: (kind, language, pattern). Patterns are written lower-case with accents;
# they are folded like the text. A space means "any separator"; EMAIL and URL stand for
# an address and a link.
_SOURCES: list[Any] = [
    # -- instruction override ---------------------------------------------------------------
    (
        "override",
        "en",
        r"\b(?:ignore|disregard|forget|override|bypass|discard|abandon) (?:all |any |every |of |the |your |these |those |my )*"
        r"(?:(?:previous|prior|above|earlier|preceding|former|original|initial|existing|system|safety|current|old) )+"
        r"(?:instructions?|prompts?|rules|directions|directives|guidelines|guardrails|commands|context|policies|"
        r"constraints|restrictions|programming)\b",
    ),
    (
        "override",
        "en",
        r"\b(?:ignore|disregard|forget|override|bypass) (?:all |any )?(?:of )?(?:your|the system'?s?|the ai'?s?|the assistant'?s?) "
        r"(?:instructions?|prompts?|rules|guidelines|guardrails|programming|policies|restrictions|training)\b",
    ),
    (
        "override",
        "en",
        r"\b(?:ignore|disregard|forget) (?:everything|anything|all(?: of)?(?: the)?(?: text)?) "
        r"(?:above|before this|said before|you were told|so far)\b",
    ),
    (
        "override",
        "en",
        r"\b(?:new|updated|revised|real|actual|true|secret|hidden) (?:system )?instructions? ?:",
        ("instruction",),
    ),
    (
        "override",
        "en",
        r"\b(?:do not|don'?t|stop) (?:follow|obey|following|obeying) (?:your|the|any) (?:previous |prior |original |system )?"
        r"(?:instructions|rules|prompt|guidelines)\b",
        ("follow", "obey"),
    ),
    (
        "override",
        "de",
        r"\b(?:ignorier(?:e|en|t)?|vergiss|vergessen|missachte|missachten|uberschreibe) (?:sie )?(?:bitte )?"
        r"(?:alle |die |deine |ihre |samtliche |jegliche )*(?:vorherigen|bisherigen|obigen|vorangegangenen|fruheren|vorigen|"
        r"ursprunglichen|alten) (?:anweisungen|instruktionen|befehle|regeln|vorgaben|anordnungen)\b",
    ),
    (
        "override",
        "de",
        r"\b(?:vorherigen|bisherigen|obigen|vorangegangenen|fruheren|vorigen) (?:anweisungen|instruktionen|befehle|regeln|vorgaben) "
        r"(?:ignorieren|vergessen|missachten|nicht (?:mehr )?befolgen)\b",
    ),
    (
        "override",
        "fr",
        r"\b(?:ignore[zr]?|oublie[zr]?|ne tiens pas compte des|ne tenez pas compte des|fais abstraction des|faites abstraction des) "
        r"(?:toutes |tous )?(?:les |tes |vos )?(?:instructions|consignes|regles|directives|ordres) "
        r"(?:precedentes|anterieures|ci-dessus|initiales|d'origine)\b",
        ("instructions", "consignes", "regles", "directives", "ordres"),
    ),
    (
        "override",
        "fr",
        r"\b(?:ignore[zr]?|oublie[zr]?) (?:toutes )?(?:tes|vos) (?:instructions|consignes|regles|directives)\b",
    ),
    (
        "override",
        "es",
        r"\b(?:ignora|ignore|ignorar|ignoren|olvida|olvide|olvidar|olviden|omite|omitir) (?:todas |todos )?(?:las |los |tus |sus )?"
        r"(?:instrucciones|indicaciones|reglas|ordenes|directrices) (?:anteriores|previas|de arriba|iniciales|originales)\b",
    ),
    (
        "override",
        "es",
        r"\b(?:ignora|olvida|ignore|olvide) (?:todas )?(?:tus|sus) (?:instrucciones|reglas|directrices)\b",
    ),
    (
        "override",
        "it",
        r"\b(?:ignora|ignorate|ignori|dimentica|dimenticate|dimentichi|trascura) (?:tutte )?(?:le )?(?:tue |sue )?"
        r"(?:istruzioni|indicazioni|regole|direttive|consegne) (?:precedenti|anteriori|di sopra|iniziali|originali)\b",
    ),
    (
        "override",
        "it",
        r"\b(?:ignora|dimentica|ignori|dimentichi) (?:tutte )?le (?:tue|sue) (?:istruzioni|regole)\b",
    ),
    (
        "override",
        "pt",
        r"\b(?:ignore|ignora|ignorar|ignorem|esqueça|esquecer|esqueçam|desconsidere|desconsiderar) (?:todas )?(?:as )?(?:suas |tuas )?"
        r"(?:instruções|orientações|regras|ordens|diretrizes) (?:anteriores|prévias|acima|iniciais|originais)\b",
    ),
    (
        "override",
        "nl",
        r"\b(?:negeer|vergeet|negeert|negeren|vergeten) (?:alle |de |je |uw |jouw )*(?:vorige|eerdere|voorgaande|bovenstaande|"
        r"oorspronkelijke|oude) (?:instructies|opdrachten|regels|aanwijzingen|richtlijnen)\b",
    ),
    (
        "override",
        "nl",
        r"\b(?:vorige|eerdere|voorgaande) (?:instructies|opdrachten|aanwijzingen) (?:negeren|vergeten)\b",
    ),
    (
        "override",
        "ja",
        r"(?:以前|これまで|前|上記|先|今まで|すべて|全て)の(?:指示|命令|指令|ルール|設定)(?:を|は)?(?:すべて|全て)?(?:無視|忘れ)",
    ),
    (
        "override",
        "zh",
        r"(?:忽略|无视|無視|忘记|忘記|不要理会)(?:之前|以前|先前|上面|上述|前面|所有|全部|此前)的?(?:所有|全部)?的?"
        r"(?:指令|指示|说明|說明|规则|規則|提示)",
    ),
    # -- role change --------------------------------------------------------------------------
    (
        "role",
        "en",
        r"\byou are now (?:a |an |the |in |my |our )?(?:[\w-]+ ){0,2}(?:assistant|agent|admin|administrator|system|developer|"
        r"root|bot|ai|model|mode|dan|unrestricted|jailbroken|operator|superuser|approver|manager)\b",
        (
            "assistant",
            "agent",
            "admin",
            "administrator",
            "system",
            "developer",
            "root",
            "bot",
            "ai",
            "model",
            "mode",
            "dan",
            "unrestricted",
            "jailbroken",
            "operator",
            "superuser",
            "approver",
            "manager",
        ),
    ),
    (
        "role",
        "en",
        r"\bfrom now on,? you (?:are|will be|act as) (?:a |an |the )?(?:[\w-]+ )?(?:assistant|agent|admin|administrator|ai|bot|"
        r"model|system|approver|superuser)\b",
        (
            "assistant",
            "agent",
            "admin",
            "administrator",
            "ai",
            "bot",
            "model",
            "system",
            "approver",
            "superuser",
        ),
    ),
    (
        "role",
        "en",
        r"\b(?:act|behave|respond) as (?:an? |the )?(?:admin|administrator|system|root|developer|superuser|approver|"
        r"unrestricted \w+|jailbroken \w+)\b",
    ),
    (
        "role",
        "en",
        r"\bpretend (?:to be|you are) (?:an? |the )?(?:admin|administrator|system|developer|approver|manager)\b",
    ),
    (
        "role",
        "en",
        r"\b(?:enter|enable|switch to|activate) (?:developer|admin|god|debug|maintenance|jailbreak|dan|sudo) mode\b",
    ),
    (
        "role",
        "de",
        r"\b(?:du bist|sie sind|ihr seid) (?:ab )?(?:jetzt|nun|ab sofort|ab jetzt)(?: \w+){0,2} (?:ein |eine |der |die )?(?:\w+ )?"
        r"(?:assistent\w*|administrator\w*|admin|system|entwickler\w*|modus|ki|bot|agent\w*|genehmiger\w*|superuser)\b",
        (
            "assistent",
            "administrator",
            "admin",
            "system",
            "entwickler",
            "modus",
            "ki",
            "bot",
            "agent",
            "genehmiger",
            "superuser",
        ),
    ),
    ("role", "de", r"\bab (?:sofort|jetzt) bist du\b", ("bist",)),
    (
        "role",
        "fr",
        r"\b(?:tu es|vous etes) (?:maintenant|desormais|a present)(?: \w+){0,2} (?:un |une |le |la |l')?(?:\w+ )?"
        r"(?:assistant|administrat\w+|admin|systeme|developpeu\w+|mode|ia|bot|agent|approbat\w+)\b",
        ("maintenant", "desormais", "present"),
    ),
    ("role", "fr", r"\ba partir de maintenant,? (?:tu es|vous etes)\b", ("maintenant",)),
    (
        "role",
        "es",
        r"\b(?:ahora|a partir de ahora|desde ahora) (?:eres|seras|usted es|actuas como|actua como)(?: \w+){0,2} "
        r"(?:un |una |el |la )?(?:\w+ )?(?:asistente|administrador\w*|admin|sistema|desarrollador\w*|modo|ia|bot|agente|aprobador\w*)\b",
        ("ahora",),
    ),
    (
        "role",
        "it",
        r"\b(?:ora|adesso|d'ora in poi|da ora in poi|da adesso) (?:sei|tu sei|agisci come)(?: \w+){0,2} (?:un |una |il |la |l')?"
        r"(?:\w+ )?(?:assistente|amministrator\w+|admin|sistema|sviluppator\w+|modalita|ia|bot|agente|approvator\w+)\b",
        ("ora", "adesso"),
    ),
    (
        "role",
        "pt",
        r"\b(?:agora|a partir de agora|de agora em diante),? (?:você é|você será|tu és|age como|aja como)(?: \w+){0,2} "
        r"(?:um |uma |o |a )?(?:\w+ )?(?:assistente|administrador\w*|admin|sistema|desenvolvedor\w*|modo|ia|bot|agente|aprovador\w*)\b",
        ("agora",),
    ),
    (
        "role",
        "nl",
        r"\b(?:je bent|jij bent|u bent) (?:nu|vanaf nu|voortaan)(?: \w+){0,2} (?:een |de |het )?(?:\w+ )?"
        r"(?:assistent|beheerder|admin\w*|systeem|ontwikkelaar|modus|ai|bot|agent|goedkeurder)\b",
        ("bent",),
    ),
    ("role", "nl", r"\bvanaf nu ben je\b"),
    (
        "role",
        "ja",
        r"(?:あなたは|君は)(?:今から|これから|今|もう)(?:管理者|システム|開発者|アシスタント|承認者)",
    ),
    ("role", "zh", r"(?:你现在是|你現在是|从现在开始你是|從現在開始你是|从现在起你是|從現在起你是)"),
    # -- fake system messages -------------------------------------------------------------------
    (
        "fake_system",
        "en",
        r"\b(?:system|developer|admin|administrator|assistant|operator) (?:prompt|message|override|instructions?|notice|"
        r"directive|command) ?:",
    ),
    ("fake_system", "en", r"\[ ?/?(?:system|inst|sys|admin|assistant|developer)\b[^\]\n]{0,30}\]"),
    ("fake_system", "en", r"<\|(?:im_start|im_end|system|endoftext|start_header_id|end_header_id|eot_id)\|>"),
    ("fake_system", "en", r"<<\s*/?sys\s*>>"),
    (
        "fake_system",
        "en",
        r"<\s*/?\s*(?:system|instructions?|sys|admin|assistant|developer_message|untrusted_data)(?:\s[^>]{0,40})?\s*>",
    ),
    (
        "fake_system",
        "en",
        r"^[\s>*]*#{2,} ?(?:instructions?|system|response|new (?:instructions?|task|rules)|assistant)\b",
        ("##",),
    ),
    (
        "fake_system",
        "en",
        r"\b(?:begin|start|end) (?:of )?(?:the )?(?:system|admin|developer) (?:prompt|message|instructions?)\b",
    ),
    ("fake_system", "en", r"```\s*(?:system|instructions)\b"),
    ("fake_system", "ja", r"(?:^|\s)(?:システム|管理者)(?:メッセージ|通知)? ?:", ("システム", "管理者")),
    (
        "fake_system",
        "zh",
        r"(?:^|\s)(?:系统|系統|管理员|管理員)(?:消息|提示|通知)? ?:",
        ("系统", "系統", "管理员", "管理員"),
    ),
    # -- fake approvals --------------------------------------------------------------------------
    ("fake_approval", "en", r"\b(?:pre|auto(?:matically)?) ?approved\b"),
    ("fake_approval", "en", r"\bauto ?approv(?:e|al|ing)\b"),
    (
        "fake_approval",
        "en",
        r"\b(?:approved|authori[sz]ed|signed off|okayed|cleared) by (?:the |your |my |our )?(?:[\w-]+ )?"
        r"(?:manager|management|finance|cfo|ceo|cto|coo|controller|admin|administrator|supervisor|director|security|"
        r"compliance|legal|it|owner|head|boss|vp|lead|accounting|switchboard|approver|approvers|system)\b",
    ),
    (
        "fake_approval",
        "en",
        r"\b(?:manager|management|finance|cfo|ceo|cto|controller|admin|administrator|supervisor|director|security|compliance|"
        r"legal|boss|accounting|the approver|an approver|approvers) (?:team )?(?:has |have |had )?(?:already )?"
        r"(?:approved|signed off|authori[sz]ed|okayed|ok'?d)\b",
        ("approved", "signed", "authorised", "authorized", "okayed", "ok"),
    ),
    (
        "fake_approval",
        "en",
        r"\bno (?:further |additional |human |manual |extra |separate )?(?:approval|confirmation|review|sign ?off|"
        r"verification|authori[sz]ation)s? (?:is |are )?(?:needed|required|necessary)\b",
        ("needed", "required", "necessary"),
    ),
    (
        "fake_approval",
        "en",
        r"\b(?:do not|don'?t|no need to|never|without) (?:ask|wait|asking|waiting|check|checking) (?:for |with |a |an |any )*"
        r"(?:human|person|people|approval|approver|confirmation|manager|review|anyone)\b",
        ("ask", "asking", "wait", "waiting", "check", "checking"),
    ),
    (
        "fake_approval",
        "en",
        r"\bapproval (?:has been |was |is )?(?:already )?(?:granted|given|confirmed|obtained)\b",
    ),
    (
        "fake_approval",
        "en",
        r"\b(?:this|the) (?:action|request|refund|payment|transfer|change|transaction|write) (?:is|has been|was) "
        r"(?:already )?(?:pre-?)?(?:approved|authori[sz]ed)\b",
        ("approved", "authorised", "authorized"),
    ),
    ("fake_approval", "en", r"\[ ?approved ?\]|\bapproved ?[:=] ?(?:yes|true|1)\b"),
    (
        "fake_approval",
        "de",
        r"\b(?:genehmigt|freigegeben|autorisiert) (?:durch|von) (?:den |die |der |dem |unsere[nmr]? |ihre[nmr]? )?(?:\w+ )?"
        r"(?:manager|management|geschaftsfuhrung|geschaftsfuhrer|finanzabteilung|buchhaltung|vorgesetzte\w*|chef\w*|admin\w*|"
        r"leitung|cfo|ceo)\b",
    ),
    ("fake_approval", "de", r"\bvorab (?:genehmigt|freigegeben)\b|\bautomatisch (?:genehmig|freigeb)\w*"),
    (
        "fake_approval",
        "de",
        r"\b(?:keine|ohne) (?:weitere |zusatzliche |manuelle )?(?:genehmigung|freigabe|bestatigung|prufung) "
        r"(?:erforderlich|notig|notwendig)\b",
    ),
    (
        "fake_approval",
        "de",
        r"\b(?:geschaftsfuhrung|finanzabteilung|buchhaltung|manager|chef|vorgesetzte|leitung) hat (?:das |dies |es |die \w+ )?"
        r"(?:bereits |schon )?(?:genehmigt|freigegeben)\b",
    ),
    (
        "fake_approval",
        "fr",
        r"\b(?:approuve|valide|autorise)e?s? par (?:le |la |l'|notre |votre )?(?:\w+ )?(?:manager|direct\w+|responsable|"
        r"direction|comptabilite|service financier|finance|daf|pdg|admin\w*|superieur\w*)\b",
    ),
    ("fake_approval", "fr", r"\bpre-?approuvee?s?\b"),
    (
        "fake_approval",
        "fr",
        r"\b(?:aucune|sans) (?:autre )?(?:approbation|validation|confirmation|autorisation) (?:n'est )?"
        r"(?:necessaire|requise)\b|\bpas besoin (?:de demander |d'attendre )?(?:d'|l'|une )?(?:approbation|validation|confirmation)\b",
        ("approbation", "validation", "confirmation", "autorisation"),
    ),
    (
        "fake_approval",
        "es",
        r"\b(?:aprobad|autorizad)[oa]s? por (?:el |la |nuestro |nuestra |su )?(?:\w+ )?(?:gerente|director\w*|jefe|jefa|finanzas|"
        r"contabilidad|administrador\w*|admin|supervisor\w*|gerencia|direccion|cfo|ceo|responsable)\b",
    ),
    ("fake_approval", "es", r"\bpre-?aprobad[oa]s?\b"),
    (
        "fake_approval",
        "es",
        r"\bno (?:se )?(?:necesita|requiere|hace falta) (?:ninguna |mas )?(?:aprobacion|confirmacion|autorizacion|revision)\b"
        r"|\bsin (?:pedir|esperar) (?:la |una )?(?:aprobacion|confirmacion|autorizacion)\b",
        ("aprobacion", "confirmacion", "autorizacion", "revision"),
    ),
    (
        "fake_approval",
        "it",
        r"\b(?:approvat|autorizzat)[oaie] da(?:l |lla |ll'|i |gli )?(?:\w+ )?(?:manager|direttor\w*|responsabile|direzione|"
        r"amministrazione|contabilita|finanza|ufficio finanziario|capo|admin\w*|cfo|ceo)\b",
    ),
    ("fake_approval", "it", r"\bpre-?approvat[oaie]\b"),
    (
        "fake_approval",
        "it",
        r"\bnon (?:e |serve |servono |occorre )(?:alcuna |nessuna )?(?:approvazione|conferma|autorizzazione|verifica)\b"
        r"|\bnessuna (?:approvazione|conferma|autorizzazione) (?:e )?(?:necessaria|richiesta)\b",
        ("approvazione", "conferma", "autorizzazione", "verifica"),
    ),
    (
        "fake_approval",
        "pt",
        r"\b(?:aprovad|autorizad)[oa]s? (?:pelo|pela|por) (?:\w+ )?(?:gerente|diretor\w*|chefe|financeiro|contabilidade|"
        r"administrador\w*|admin|supervisor\w*|gerencia|diretoria|cfo|ceo|responsavel)\b",
    ),
    ("fake_approval", "pt", r"\bpre-?aprovad[oa]s?\b"),
    (
        "fake_approval",
        "pt",
        r"\bnao (?:e|sera) (?:necessaria|necessario|preciso) (?:nenhuma )?(?:aprovacao|confirmacao|autorizacao)\b"
        r"|\bsem (?:pedir|esperar|precisar de) (?:aprovacao|confirmacao|autorizacao)\b",
        ("aprovação", "confirmação", "autorização"),
    ),
    (
        "fake_approval",
        "nl",
        r"\bgoedgekeurd door (?:de |het |onze |uw |je )?(?:\w+ )?(?:manager|directie|directeur|financ\w*|boekhouding|"
        r"beheerder|admin|leidinggevende|baas|cfo|ceo)\b",
    ),
    (
        "fake_approval",
        "nl",
        r"\bvooraf goedgekeurd\b|\bgeen (?:verdere |extra )?(?:goedkeuring|bevestiging) (?:nodig|vereist)\b",
    ),
    (
        "fake_approval",
        "ja",
        r"(?:マネージャー|部長|上司|経理|管理者|承認者)(?:が|により|によって|の)?(?:既に|すでに)?承認(?:済み|しました|済)|承認済み|承認(?:は)?不要",
    ),
    (
        "fake_approval",
        "zh",
        r"(?:经理|經理|主管|财务|財務|管理员|管理員|老板|总监|總監)(?:已经|已經|已)?(?:批准|审批|審批|同意)"
        r"|(?:预先|預先)批准|(?:无需|無需|不需要|不用)(?:审批|審批|批准|确认|確認|人工)",
    ),
    # -- policy and permission changes -------------------------------------------------------------
    (
        "policy_change",
        "en",
        r"\b(?:grant|give|assign) (?:me |us |him |her |them |this (?:user|account|address) |user \S+ |EMAIL )?"
        r"(?:full |admin |administrator |root |superuser |owner |elevated |approver |approval )+"
        r"(?:access|rights|privileges|permissions?|role|status)\b",
    ),
    ("policy_change", "en", r"\bgrant (?:me |us )?(?:admin|administrator|root|superuser)\b"),
    (
        "policy_change",
        "en",
        r"\b(?:make|set|add|appoint|register|promote) (?:me|us|him|her|them|EMAIL|this (?:user|account|email|address)|the sender|"
        r"user \S+) (?:as |to |an |a |the )*(?:approver|approvers|admin|administrator|owner|superuser)\b",
        ("approver", "approvers", "admin", "administrator", "owner", "superuser"),
    ),
    (
        "policy_change",
        "en",
        r"\b(?:add|create|insert|register|enable|install) (?:a |an |new |the )*(?:standing |permanent |auto(?:matic)? ?approv\w* |"
        r"allow(?:list)? |whitelist |bypass )+(?:rule|policy|exception|entry)\b",
        ("rule", "policy", "exception", "entry"),
    ),
    (
        "policy_change",
        "en",
        r"\b(?:disable|turn off|switch off|deactivate|remove|suspend|pause|relax|loosen|bypass|skip|override|circumvent) "
        r"(?:all |the |any |your |every |this )?(?:approval|approvals|four eyes|two person|dual control|guardrails?|"
        r"approval gate|safety checks?|fraud checks?|policy checks?|review step|human review)"
        r"(?: (?:step|requirement|process|check|rule|flow|gate|policy|policies))?\b",
    ),
    (
        "policy_change",
        "en",
        r"\b(?:change|update|replace|swap|modify|set) (?:the |who is the |who can )?(?:approvers?|approval (?:chain|list|owner|"
        r"policy|settings|rules?))\b",
        ("approver", "approvers", "approval"),
    ),
    (
        "policy_change",
        "en",
        r"\b(?:elevate|escalate) (?:my |your |the |its )?(?:privileges|permissions|access level|role)\b",
    ),
    (
        "policy_change",
        "de",
        r"\b(?:gib|gebe|erteile|erteilen sie|geben sie) (?:mir |uns )?(?:admin\w*|administrator\w*|vollzugriff|genehmiger\w*)\b",
    ),
    (
        "policy_change",
        "de",
        r"\b(?:fuge|fugen sie) (?:mich|uns|EMAIL) als (?:genehmiger|freigeber|admin\w*) hinzu\b",
    ),
    (
        "policy_change",
        "de",
        r"\b(?:deaktiviere|deaktivieren sie|schalte|schalten sie|umgehe|umgehen sie) (?:die |den |das )?"
        r"(?:genehmigung|freigabe|vier-augen-prinzip)\w*\b|\b(?:genehmigung|freigabe)\w* (?:deaktivieren|abschalten|umgehen|aufheben)\b",
    ),
    (
        "policy_change",
        "fr",
        r"\b(?:donne[zr]?|accorde[zr]?|attribue[zr]?)(?:-moi| moi)? (?:les )?(?:droits|acces|privileges) (?:d'|de )?"
        r"(?:admin\w*|administrat\w+|approbat\w+)\b",
    ),
    (
        "policy_change",
        "fr",
        r"\bajoute[zr]?(?:-moi| moi| EMAIL) (?:comme|en tant qu'?) ?(?:approbateur|administrateur|admin)\b",
    ),
    (
        "policy_change",
        "fr",
        r"\b(?:desactive[zr]?|contourne[zr]?|supprime[zr]?) (?:l'|la |le |les )?(?:approbation|validation humaine|double validation)s?\b",
    ),
    (
        "policy_change",
        "es",
        r"\b(?:dame|concedeme|otorgame|asigname) (?:acceso |permisos |derechos |el rol )?(?:de )?(?:admin\w*|aprobador)\b",
    ),
    (
        "policy_change",
        "es",
        r"\b(?:agrega|anade|agregame|anademe)(?: EMAIL)? como (?:aprobador|administrador|admin)\b",
    ),
    (
        "policy_change",
        "es",
        r"\b(?:desactiva|deshabilita|desactivar|deshabilitar|omite|omitir|salta|saltar) (?:la |el |las |los )?"
        r"(?:aprobacion|aprobaciones|revision humana|doble control)\b",
    ),
    (
        "policy_change",
        "it",
        r"\b(?:dammi|concedimi|assegnami) (?:i )?(?:diritti|permessi|accesso|privilegi|ruolo) (?:di )?"
        r"(?:admin\w*|amministrator\w+|approvator\w+)\b",
    ),
    ("policy_change", "it", r"\baggiungi(?:mi)?(?: EMAIL)? come (?:approvatore|amministratore|admin)\b"),
    (
        "policy_change",
        "it",
        r"\b(?:disattiva|disabilita|salta|rimuovi|aggira) (?:l'|la |il |le |i )?(?:approvazion\w+|revisione umana|doppio controllo)\b",
    ),
    (
        "policy_change",
        "pt",
        r"\b(?:me de|de-me|conceda-me|conceda|atribua-me) (?:acesso|permissoes|direitos|privilegios) (?:de )?"
        r"(?:admin\w*|administrador|aprovador)\b",
        ("acesso", "permissões", "direitos", "privilégios"),
    ),
    ("policy_change", "pt", r"\badicione(?:-me)?(?: EMAIL)? como (?:aprovador|administrador|admin)\b"),
    (
        "policy_change",
        "pt",
        r"\b(?:desative|desativar|desabilite|desabilitar|pule|pular|ignore) (?:a |o |as |os )?"
        r"(?:aprovação|aprovações|revisão humana|dupla verificação)\b",
    ),
    (
        "policy_change",
        "nl",
        r"\b(?:geef|verleen) (?:mij |me |ons )?(?:admin\w*|beheerders?)(?:rechten|toegang)\b",
    ),
    ("policy_change", "nl", r"\bvoeg (?:mij|me|EMAIL) toe als (?:goedkeurder|beheerder|admin)\b"),
    ("policy_change", "nl", r"\b(?:schakel|zet) (?:de )?(?:goedkeuring|controle|beoordeling)\w* uit\b"),
    ("policy_change", "ja", r"承認(?:を|は)?(?:無効|スキップ|省略)|管理者権限を(?:付与|与え)"),
    (
        "policy_change",
        "zh",
        r"(?:授予|给我|給我)(?:管理员|管理員|admin)(?:权限|權限)|(?:添加|加)我为(?:审批人|管理员)|(?:禁用|关闭|關閉|跳过|跳過)(?:审批|審批|批准)",
    ),
    # -- exfiltration ---------------------------------------------------------------------------------
    (
        "exfiltration",
        "en",
        r"\b(?:send|forward|email|e-mail|mail|post|upload|export|copy|share|leak|transmit|dump|paste|sync) "
        r"(?:me |us )?(?:a copy of |copies of |the full |the complete |the entire |all (?:of )?(?:the |your |our )?|every |each |"
        r"the list of |a list of |a dump of |the whole )[^\n]{0,80}?(?:to|into|at|with) (?:EMAIL|URL)",
        ("@", "http", "www."),
    ),
    (
        "exfiltration",
        "en",
        r"\b(?:send|forward|email|e-mail|mail|post|upload|export|share|leak|transmit|dump) (?:me |us )?(?:the |your |our |their )?"
        r"(?:\w+ ){0,2}(?:customer (?:list|data|database|records|emails|details)|database|credentials|passwords?|api keys?|"
        r"access tokens?|secrets?|system prompt|card numbers|contacts list|conversation history|chat history|ticket history|"
        r"internal notes)[^\n]{0,40}?(?:to|at) (?:EMAIL|URL)",
        ("@", "http", "www."),
    ),
    ("exfiltration", "en", r"\bforward (?:all|every|each|any|copies)\b"),
    (
        "exfiltration",
        "en",
        r"\b(?:reveal|print|show|repeat|output|leak|disclose|dump) (?:me )?(?:your |the )?(?:full |entire |original |hidden |"
        r"initial )?(?:system prompt|hidden instructions|your instructions|your prompt|api keys?|credentials|secrets)\b",
    ),
    ("exfiltration", "en", r"!\[[^\]\n]{0,40}\]\(https?://[^)\s]+\?[^)\s]*="),
    (
        "exfiltration",
        "de",
        r"\b(?:sende|senden sie|schicke|schicken sie|leite|leiten sie|ubermittle|ubermitteln sie) (?:alle|samtliche|die gesamte|"
        r"die komplette|eine kopie|eine liste)[^\n]{0,60}? (?:an|nach|zu) (?:EMAIL|URL)",
    ),
    ("exfiltration", "de", r"\bleite (?:alle|samtliche) \w+ (?:weiter|an)\b"),
    (
        "exfiltration",
        "fr",
        r"\b(?:envoie[zr]?|transfere[zr]?|fais suivre|faites suivre|partage[zr]?) (?:toutes|tous|l'ensemble|une copie|la liste)"
        r"[^\n]{0,60}? (?:a|vers|sur) (?:EMAIL|URL)",
    ),
    (
        "exfiltration",
        "es",
        r"\b(?:envia|envie|enviar|reenvia|reenvie|reenviar|manda|mande|comparte) (?:todas|todos|toda|todo|una copia|la lista|"
        r"el listado)[^\n]{0,60}? (?:a|al|hacia) (?:EMAIL|URL)",
    ),
    (
        "exfiltration",
        "it",
        r"\b(?:invia|inviate|manda|mandate|inoltra|inoltrate|condividi) (?:tutte|tutti|una copia|l'elenco|la lista)"
        r"[^\n]{0,60}? (?:a|al|verso|su) (?:EMAIL|URL)",
    ),
    (
        "exfiltration",
        "pt",
        r"\b(?:envie|enviar|encaminhe|encaminhar|mande|compartilhe) (?:todas|todos|uma copia|a lista)[^\n]{0,60}? "
        r"(?:para|a) (?:EMAIL|URL)",
    ),
    (
        "exfiltration",
        "nl",
        r"\b(?:stuur|verstuur|stuurt) (?:alle|een kopie|de lijst|de volledige)[^\n]{0,60}? (?:naar|aan) (?:EMAIL|URL)"
        r"|\bstuur alle \w+ door\b",
    ),
    (
        "exfiltration",
        "ja",
        r"(?:すべて|全て|全部)の[^\n]{0,30}?(?:EMAIL|URL)[^\n]{0,10}?(?:送信|転送|送って)|(?:EMAIL|URL)\s*(?:に|へ)[^\n]{0,20}?(?:送信|転送)",
        ("@", "http", "www."),
    ),
    (
        "exfiltration",
        "zh",
        r"(?:发送|發送|转发|轉發)(?:所有|全部)|(?:所有|全部)的?[^\n]{0,20}?(?:发送|發送|转发|轉發)(?:到|给|給|至)",
    ),
    # -- payment redirection ----------------------------------------------------------------------------
    (
        "payment_redirect",
        "en",
        r"\b(?:new|updated|changed|revised|different|corrected|alternative) (?:bank(?:ing)?|remittance|wire|beneficiary|payee) "
        r"(?:details|information|info|account|instructions|coordinates)\b",
        ("bank", "banking", "remittance", "wire", "beneficiary", "payee"),
    ),
    (
        "payment_redirect",
        "en",
        r"\b(?:updated|new|changed|correct|different|revised) (?:iban|swift(?: code)?|bic|sort code|routing number|account number)\b",
        ("iban", "swift", "bic", "sort", "routing", "account"),
    ),
    (
        "payment_redirect",
        "en",
        r"\b(?:change|update|replace|switch|amend) (?:of |the |our |to |your records of )*(?:payee|beneficiary|bank details|"
        r"banking details|bank account details|remittance (?:details|account)|iban|payment destination|receiving account)\b",
    ),
    (
        "payment_redirect",
        "en",
        r"\b(?:our|the|vendor'?s?|supplier'?s?) (?:bank(?:ing)? (?:details|account)|iban|account details) (?:has|have|was|were) "
        r"(?:been )?(?:changed|updated|moved)\b",
        ("changed", "updated", "moved"),
    ),
    (
        "payment_redirect",
        "en",
        r"\b(?:pay|transfer|remit|wire|send|route) (?:the |this |all |any |future )?(?:payments? |funds |amount |money |balance |"
        r"invoices? |it )?(?:to|into) (?:the following|this|our new|the new|a new|our updated|the updated) (?:bank )?(?:account|iban)\b",
        ("account", "iban"),
    ),
    (
        "payment_redirect",
        "en",
        r"\bold (?:bank )?account (?:is|has been|was) (?:now )?(?:closed|frozen|no longer (?:in use|valid|active))\b",
    ),
    (
        "payment_redirect",
        "de",
        r"\b(?:neue|neuen|geanderte|aktualisierte|korrigierte) (?:bankverbindung|bankdaten|kontodaten|kontoverbindung|iban)\b"
        r"|\b(?:unsere|die) (?:bankverbindung|iban|kontoverbindung) hat sich geandert\b|\bkontoanderung\b",
        ("bankverbindung", "bankdaten", "kontodaten", "kontoverbindung", "iban", "kontoanderung"),
    ),
    (
        "payment_redirect",
        "fr",
        r"\b(?:nouvelles?|nouveaux?|nouvel) (?:coordonnees bancaires|rib|iban|compte bancaire)\b"
        r"|\bchangement (?:de|des) (?:coordonnees bancaires|rib|compte bancaire|iban)\b|\bcoordonnees bancaires ont change\b",
    ),
    (
        "payment_redirect",
        "es",
        r"\b(?:nuevos?|nuevas?|actualizad[oa]s?) (?:datos bancarios|cuenta bancaria|iban|numero de cuenta)\b"
        r"|\bcambio de (?:cuenta bancaria|datos bancarios|iban|beneficiario)\b|\bcuenta bancaria ha cambiado\b",
    ),
    (
        "payment_redirect",
        "it",
        r"\b(?:nuov[eoia]|aggiornat[eoia]) (?:coordinate bancarie|dati bancari|conto corrente|iban)\b"
        r"|\b(?:cambio|variazione) (?:di |delle |dei |del )?(?:coordinate bancarie|dati bancari|iban|conto corrente|beneficiario)\b",
    ),
    (
        "payment_redirect",
        "pt",
        r"\b(?:novos?|novas?|atualizad[oa]s?) (?:dados bancários|conta bancária|iban|número da conta)\b"
        r"|\b(?:alteração|mudança|troca) (?:de|dos|da) (?:dados bancários|conta bancária|iban|beneficiário)\b",
    ),
    (
        "payment_redirect",
        "nl",
        r"\b(?:nieuwe|gewijzigde|aangepaste) (?:bankgegevens|rekeninggegevens|iban|bankrekening(?:nummer)?|rekeningnummer)\b"
        r"|\b(?:ons|onze) (?:rekeningnummer|bankrekening|iban) is gewijzigd\b",
        ("bankgegevens", "rekeninggegevens", "iban", "bankrekening", "rekeningnummer"),
    ),
    (
        "payment_redirect",
        "ja",
        r"(?:新しい|新)(?:口座|振込先|銀行口座)|振込先(?:の)?変更|口座(?:情報)?(?:が|を)?変更",
    ),
    (
        "payment_redirect",
        "zh",
        r"(?:新的?|更新的?)(?:银行账户|銀行帳戶|收款账户|收款帳戶|银行信息)|(?:更改|变更|變更|修改)(?:收款人|收款账户|银行账户|銀行帳戶)"
        r"|银行账户已?(?:变更|更改)",
    ),
]

# Case-sensitive: an all-caps role header is an attack; "System: Windows 11" is a customer.
_CASED_SOURCES: list[Any] = [
    (
        "fake_system",
        "en",
        r"(?<![\w-])(?:SYSTEM|ASSISTANT|DEVELOPER|ADMIN|ADMINISTRATOR|OPERATOR)(?: (?:MESSAGE|PROMPT|OVERRIDE|"
        r"INSTRUCTIONS?|NOTE|NOTICE|UPDATE))? ?:",
    ),
    ("fake_system", "fr", r"(?<![\w-])SYSTEME ?:"),
    ("fake_approval", "en", r"\bAPPROVED\b(?: BY\b| -|:)"),
    ("fake_approval", "en", r"\b(?:PRE-?APPROVED|AUTO-?APPROVED)\b"),
]

RULES: list[_Rule] = [_compile(*entry) for entry in _SOURCES] + [
    _compile(*entry, cased=True) for entry in _CASED_SOURCES
]


# --- encodings ---------------------------------------------------------------------------

_B64_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX = re.compile(r"(?:(?:\\x|0x)?[0-9A-Fa-f]{2}[\s:,]?){8,}")
_HEX_TOKEN = re.compile(r"(?:\\x|0x|x)?[0-9a-f]{2}")
_PERCENT = re.compile(r"(?:%[0-9A-Fa-f]{2}){3,}")
_ENTITY = re.compile(r"&#[0-9]{2,7};|&#x[0-9A-Fa-f]{2,6};|&[a-z]{2,8};")
_SPACED = re.compile(r"(?<!\w)(?:\w[ .\-_*|]{1,2}){4,}\w(?!\w)")
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
    for token in text.split():
        token = token.strip("\"'()[]{}<>,;:")
        if len(token) >= 16 and _B64_TOKEN.fullmatch(token):
            blocks[-1].append(token)
        elif blocks[-1]:
            blocks.append([])
    candidates = {t for block in blocks for t in block} | {"".join(b) for b in blocks if len(b) > 1}
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


def _hex_texts(text: str) -> Iterable[str]:
    for m in _HEX.finditer(text):
        digits = re.sub(r"\\x|0x|[\s:,]", "", m.group())
        try:
            raw = bytes.fromhex(digits[: len(digits) // 2 * 2])
        except ValueError:
            continue
        if (decoded := _printable(raw)) is not None:
            yield decoded


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


def _letter_run(words: list[str]) -> int:
    """The longest run of one-character words ("i g n o r e")."""
    best = run = 0
    for w in words:
        run = run + 1 if len(w) == 1 else 0
        best = max(best, run)
    return best


def _scan(text: str, encoding: str | None, depth: int, out: list[Finding]) -> None:
    t = _Text.of(text)
    _match(t, encoding, out)
    if encoding is None:
        _match(t, "rot13", out, rot13=True)
    if depth >= MAX_DEPTH:
        return
    source = t.cased  # encodings are case-sensitive: decode the case-kept form
    if any(len(token) >= 16 for token in source.split()):
        for decoded in _base64_texts(source):
            _scan(decoded, encoding or "base64", depth + 1, out)
    if sum(1 for w in t.words if len(w) <= 4 and _HEX_TOKEN.fullmatch(w)) >= 8 or any(
        len(w) >= 16 and w.strip("0123456789abcdefx") == "" for w in t.words
    ):
        for decoded in _hex_texts(source):
            _scan(decoded, encoding or "hex", depth + 1, out)
    if "%" in source and _PERCENT.search(source):
        _scan(unquote(source), encoding or "percent", depth + 1, out)
    if "&" in source and _ENTITY.search(source):
        unescaped = html.unescape(source)
        if unescaped != source:
            _scan(unescaped, encoding or "html", depth + 1, out)
    if _letter_run(t.words) >= 5 and (spaced := _SPACED.findall(t.lowered)):
        joined = "  ".join(re.sub(r"(?<=\w)[ .\-_*|](?=\w)", "", s) for s in spaced)
        _scan(joined, encoding or "spaced", depth + 1, out)


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


def strings_of(value: Any) -> list[str]:
    """The string values inside a JSON-like value (dict keys are the system's, not text)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_of(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in strings_of(v)]
    return []


def scan_value(value: Any) -> list[Finding]:
    """Findings in every longer string of a read result, scanned as one text (one pass)."""
    texts = [s for s in strings_of(value) if len(s) >= MIN_VALUE_CHARS]
    return scan("\n".join(texts)) if texts else []


# --- the policy's view ----------------------------------------------------------------------

FACTS_KEY = "untrusted_findings"  # labels of findings in read results, added by policy.observe


def risk_reason(facts: dict[str, Any]) -> str | None:
    """The one reason a write gets when the run saw instruction-like text, or None.

    The item's own text (facts["untrusted_text"]) is scanned here; read results were
    scanned when they arrived (their labels are in facts[FACTS_KEY]).
    """
    item = [f.label for text in facts.get("untrusted_text") or [] for f in scan(text)]
    labels = list(dict.fromkeys([*item, *(facts.get(FACTS_KEY) or [])]))  # the item's first, once each
    if not labels:
        return None
    where = "the item" if item else "data read in this run"
    extra = f" and {len(labels) - 1} more" if len(labels) > 1 else ""
    return f"{where} contains instruction-like text ({labels[0]}{extra}); check this action was not steered by it"
