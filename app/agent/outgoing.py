"""What an outgoing message points people to: links, domains, addresses, phone numbers, accounts.

Why: a reply is where an attacker's text does harm without any write looking odd, a
"refund portal" domain, a phishing link, a remote image whose URL carries the
customer's address. Each such span is checked against what the run trusts (the
help center's own links and the systems' records, collected as facts, and the
company's own domains from configuration); the rest is shown to the approver
verbatim. `strip_untrusted` lets drafting code leave such spans out of a reply it
writes by itself.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from app.text import INVISIBLE

Kind = Literal["link", "image", "domain", "email", "phone", "iban"]

# The local part as RFC 5322 allows it (any of its atext characters, or a quoted string); a
# quote or bracket before the first character is the text's, not the address's.
EMAIL = re.compile(r"(?:\"[^\"\s@]+\"|[\w!#$%&*+/=?^`{|}~-][\w.!#$%&'*+/=?^`{|}~-]*)@[\w-]+(?:\.[\w-]+)+")
# Groups may be split by spaces, dots, slashes, dashes or a table's cell borders (`| DE89 3704 |`).
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[\s./|-]{0,3}[A-Z0-9]{4}){2,7}(?:[\s./|-]{0,3}[A-Z0-9]{1,3})?\b")
# An address spelled out so that no parser sees it: "refunds at northwind-help dot com".
# "at" and "dot" in brackets of any kind: (at), [at], {at}, <at>.
_SPELLED_EMAIL = re.compile(
    r"(?<![\w.+-])([\w.+-]+)\s*(?:\s|[(\[{<])at(?:\s|[)\]}>])\s*"
    r"([\w-]+(?:\s*(?:\s|[(\[{<])dot(?:\s|[)\]}>])\s*[\w-]+)+)",
    re.IGNORECASE,
)
_SPELLED_DOT = re.compile(r"\s*(?:\s|[(\[{<])dot(?:\s|[)\]}>])\s*", re.IGNORECASE)
# A web address spelled out or defanged so no link is made, for the customer to type in:
# "northwind-refunds dot com", "northwind-refunds[.]com". Spelled with "dot", only before a
# common top-level domain (ordinary prose has "dot" in it); defanged, before any.
# Each chain of labels is matched once, whole (possessively: a long "x dot x dot …" never makes
# the pattern try every shorter chain from every label), and cut after its last such domain.
_SPELLED_DOMAIN = re.compile(
    r"(?<![\w.@-])(?:(?P<spelled>[^\W_][\w-]*+(?:(?:\s+dot\s+|\s*[(\[{<]dot[)\]}>]\s*)[\w-]++)++)"
    r"|[^\W_][\w-]*(?:\[\.\]|\(\.\)|\{\.\})[\w.\[\]().-]*[^\W_](?![\w-]))",
    re.IGNORECASE,
)
_SPELLED_TLDS = frozenset(
    [
        "com",
        "net",
        "org",
        "io",
        "co",
        "info",
        "biz",
        "shop",
        "app",
        "online",
        "site",
        "store",
        "help",
        "support",
        "xyz",
        "me",
        "us",
        "uk",
        "de",
        "eu",
    ]
)
_DOT_WORD = re.compile(r"\s+dot\s+|\s*[(\[{<]dot[)\]}>]\s*", re.IGNORECASE)
_DEFANGED_DOT = re.compile(r"\[\.\]|\(\.\)|\{\.\}|\s*[(\[{<]dot[)\]}>]\s*|\s+dot\s+", re.IGNORECASE)
_URL = re.compile(r"(?:https?://|//|www\.)[^\s<>\"'`)\]]+", re.IGNORECASE)
# Bounded (an alt text or a tag's other attributes of 500 characters) and possessive, so a text
# of many "![" or "<img" without an end is not read from each of them to its end, nor tried again
# at every split of each run. A source past the bounds is
# still a link (`_URL`), only not called an image.
_IMAGE = re.compile(
    r"!\[[^\]]{0,500}+\]\(\s*+(?P<md>[^)\s]{1,2048}+)[^)]{0,2048}+\)"
    r"|<img\b[^>]{0,500}?\bsrc\s*=\s*[\"']?(?P<html>[^\"'\s>]{1,2048})[^>]{0,500}>",
    re.IGNORECASE,
)
# Labels in any script: a look-alike of the company's domain (a Cyrillic "о") is a domain too.
# (A host right after a stray `@` is a domain too: addresses are taken first, as spans.)
_DOMAIN = re.compile(r"(?<![\w.-])(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_][\w-]{1,23}(?![\w-])")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s./-]?)?(?:\(\d{1,4}\)[\s./-]?)?\d{2,4}(?:[\s./-]\d{2,4}){1,4}(?!\w)|\+\d{8,15}\b"
)
# A number written without the usual grouping ("call 08001234567", "0800 1234567") is a phone
# number when the words just before it say so (a tracking or order number is not).
_CALL = re.compile(
    r"\b(?:call|phone|tel|telephone|ring|dial|hotline|whatsapp|sms|text)\b[^\d\n]{0,20}"
    r"(?P<number>\+?\d[\d\s./-]{6,18}\d)(?!\w)",
    re.IGNORECASE,
)
# Not phone numbers: a date (with a time after it), or a list of equal four-digit numbers.
_NOT_PHONE = re.compile(r"^\d{4}-\d{2}-\d{2}|^\d{1,2}[./]\d{1,2}[./]\d{2,4}|^\d{4}(?: \d{4})+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Words that look like domains but name files or versions, not places on the web. Endings that
# are real top-level domains too (.zip, .mov, .md, .py) are not among them: such a name opens.
_NOT_TLDS = frozenset(
    [
        "pdf",
        "doc",
        "docx",
        "xls",
        "xlsx",
        "csv",
        "txt",
        "png",
        "jpg",
        "jpeg",
        "gif",
        "svg",
        "webp",
        "gz",
        "tar",
        "json",
        "xml",
        "yaml",
        "yml",
        "html",
        "htm",
        "js",
        "ts",
        "exe",
        "dmg",
        "msi",
        "log",
        "ini",
        "cfg",
        "conf",
        "eml",
        "ics",
        "mp3",
        "mp4",
        "wav",
    ]
)


@dataclass(frozen=True)
class Span:
    kind: Kind
    text: str  # exactly as it appears in the message
    value: str  # normalized: a host for links and domains, lower-cased address, digits, IBAN
    start: int
    end: int


def _host(url: str) -> str:
    """The host a browser would open ("" when none can be trusted). Browsers read a link as the
    WHATWG URL standard says, where a backslash in an http(s) link ends the host as a slash does:
    `https://evil.test\\@help.example` opens evil.test, though `urlsplit` names help.example. And
    a link with a user part (`https://help.example@evil.test`) is a way to mislead its reader:
    it is trusted for no host."""
    url = url.replace("\\", "/")
    if url.lower().startswith("www."):
        url = "//" + url
    if url.startswith("//"):
        url = "http:" + url
    try:
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None:
            return ""
        return _domain_value(parts.hostname or "")
    except ValueError:
        return ""


# Dots that IDNA reads as a full stop (ideographic, fullwidth, halfwidth): a browser opens them.
# Dashes a reader takes for a hyphen (en, em, minus...) and a middle dot between digits group
# numbers as a hyphen does.
_DOTS = str.maketrans(
    {
        "\u3002": ".",
        "\uff0e": ".",
        "\uff61": ".",
        **{chr(c): "-" for c in range(0x2010, 0x2016)},
        "\u2212": "-",
        "\u00b7": "-",
    }
)


_LOOKALIKES = str.maketrans(
    "АВЕКМНОРСТХУІЅЈΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
    "ABEKMHOPCTXYISJABEZHIKMNOPTYX",
)


def _as_read(text: str) -> tuple[str, list[int]]:
    """`text` as a browser or a reader takes it in: each character in its compatibility form
    (NFKC: fullwidth letters are letters), IDNA's dots as dots, invisible characters dropped;
    with, for each character of the result, the position in `text` it came from."""
    if text.isascii():  # most text: ASCII is its own NFKC form and holds no invisible characters
        return text, list(range(len(text) + 1))
    out: list[str] = []
    where: list[int] = []
    for i, c in enumerate(text):
        if INVISIBLE.match(c):
            continue
        for d in unicodedata.normalize("NFKC", c.translate(_DOTS)):
            out.append(d)
            where.append(i)
    where.append(len(text))
    return "".join(out), where


def _domain_value(name: str) -> str:
    """A host as compared with trusted ones: lower case, IDNA (punycode) where not ASCII."""
    host = name.lower().rstrip(".")
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def spans(text: str) -> list[Span]:
    """Every link, remote image, bare domain, address, phone number and IBAN in `text`, read
    as people and browsers read it (`_as_read`); each span's text and place are the original's."""
    read, where = _as_read(text)
    return [
        Span(
            s.kind, text[where[s.start] : where[s.end - 1] + 1], s.value, where[s.start], where[s.end - 1] + 1
        )
        for s in _spans(read)
    ]


class _Taken:
    """Places of the text already read as a span (never overlapping), looked up by bisection:
    a text with thousands of candidates must not compare each with all the others."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def claim(self, a: int, b: int) -> bool:
        i = bisect_right(self.starts, a)
        if (i and self.ends[i - 1] > a) or (i < len(self.starts) and self.starts[i] < b):
            return False
        self.starts.insert(i, a)
        self.ends.insert(i, b)
        return True


def _spans(text: str) -> list[Span]:
    found: list[Span] = []
    taken = _Taken()

    def add(kind: Kind, m: re.Match[str], value: str, group: int | str = 0) -> None:
        a, b = m.span(group)
        if taken.claim(a, b):
            found.append(Span(kind, m.group(group), value, a, b))

    for m in _IMAGE.finditer(text):
        url = m.group("md") or m.group("html") or ""
        if taken.claim(*m.span()):
            found.append(Span("image", m.group(), _host(url) or url.lower(), *m.span()))
    for m in _URL.finditer(text):
        raw = m.group().rstrip(".,;:!?")
        # A link cut short by a quote or bracket (`https://help.example'@evil.test`) opens the host
        # after the `@`: with an `@` before the next space, it is trusted for no host.
        rest = re.match(r"[^\s<>]{0,4096}", text[m.start() + len(raw) : m.start() + len(raw) + 4096])
        host = "" if rest is not None and "@" in rest.group() else _host(raw)
        kind: Kind = "image" if _image_source(text, m.start()) else "link"
        if taken.claim(m.start(), m.start() + len(raw)):
            found.append(Span(kind, raw, host, m.start(), m.start() + len(raw)))
    for m in emails_in(text):
        add("email", m, m.group().lower())
    found += _addresses_in_links(found)
    for m in _SPELLED_EMAIL.finditer(text):
        add("email", m, f"{m.group(1)}@{_SPELLED_DOT.sub('.', m.group(2))}".lower())
    for m, value in _iban_matches(text):
        add("iban", m, value)
    for m in _DOMAIN.finditer(text):
        tld = m.group().rsplit(".", 1)[-1].lower()
        if tld not in _NOT_TLDS and not tld.isdigit():
            add("domain", m, _domain_value(m.group()))
    for m in _SPELLED_DOMAIN.finditer(text):
        end = _spelled_end(m)
        if end is not None and taken.claim(m.start(), end):
            written = text[m.start() : end]
            found.append(
                Span("domain", written, _domain_value(_DEFANGED_DOT.sub(".", written)), m.start(), end)
            )
    for m, digits, group in _phones(text):
        add("phone", m, digits, group)
    return sorted(found, key=lambda s: s.start)


def ibans(text: str) -> list[Span]:
    """The IBANs of `text` as `spans` finds them (read as people read them), and nothing else."""
    read, where = _as_read(text)
    found = []
    for m, value in _iban_matches(read):
        a, b = where[m.start()], where[m.end() - 1] + 1
        found.append(Span("iban", text[a:b], value, a, b))
    return found


def _iban_matches(text: str) -> list[tuple[re.Match[str], str]]:
    """IBANs with their values. Cyrillic and Greek capitals that look like Latin ones are read
    one character for one, so an IBAN's country code written with them (`DЕ89…`) is still an
    IBAN, at the same place, though never the same as an account on record."""
    out = []
    for m in IBAN.finditer(text.translate(_LOOKALIKES)):
        value = re.sub(r"[\s./|-]+", "", m.group()).upper()
        if not text[m.start() : m.end()].isascii():
            value += " (written with look-alike letters)"
        out.append((m, value))
    return out


_BEFORE_MD_SOURCE = re.compile(r"\]\(\s*$")
_BEFORE_HTML_SOURCE = re.compile(r"\bsrc\s*=\s*[\"']?$", re.IGNORECASE)


def _image_source(text: str, start: int) -> bool:
    """Whether the link at `start` is an image's source whose alt text or tag ran past _IMAGE's
    bounds (padded so as to be read as a mere link): looked for backwards from the link."""
    before = text[max(0, start - 16) : start]
    if _BEFORE_MD_SOURCE.search(before):
        opener = text.rfind("[", 0, start)
        return opener > 0 and text[opener - 1] == "!"
    if _BEFORE_HTML_SOURCE.search(before):
        tag = text.rfind("<", 0, start)
        return tag != -1 and text[tag : tag + 4].lower() == "<img" and ">" not in text[tag:start]
    return False


def _addresses_in_links(found: list[Span]) -> list[Span]:
    """An address a link carries percent-encoded (`?owner=bob%40example.com`) is given all the
    same, whoever's host the link is on: said as an address at the link's place."""
    return [
        Span("email", link.text, m.group().lower(), link.start, link.end)
        for link in found
        if link.kind in ("link", "image") and "%" in link.text
        for m in emails_in(unquote(link.text))
    ]


def _spelled_end(m: re.Match[str]) -> int | None:
    """Where a spelled or defanged domain ends: a defanged one where it was matched; a chain of
    "dot"-joined labels after its last label that is a common top-level domain, or a country's
    two letters right after one ("com dot au": the reader types .com.au), None when it has no
    such label (prose has "dot" in it too)."""
    if m.group("spelled") is None:
        return m.end()
    last = None
    after_tld = False
    for sep in _DOT_WORD.finditer(m.group()):
        label = re.match(r"[\w-]+", m.group()[sep.end() :])
        word = label.group().lower() if label is not None else ""
        if label is not None and (word in _SPELLED_TLDS or (after_tld and len(word) == 2 and word.isalpha())):
            last = m.start() + sep.end() + label.end()
            after_tld = True
        else:
            after_tld = False
    return last


def emails_in(text: str) -> list[re.Match[str]]:
    """EMAIL's matches, looked for only around each `@` (a local part has at most 64 characters,
    a domain 255): run over a whole text, the pattern backtracks from every position of a long
    word without one (a pasted screenshot in base64), which takes seconds."""
    found: dict[tuple[int, int], re.Match[str]] = {}
    at = text.find("@")
    while at != -1:
        for m in EMAIL.finditer(text, max(0, at - 65), min(len(text), at + 256)):
            if m.start() <= at < m.end():
                found.setdefault(m.span(), m)
        at = text.find("@", at + 1)
    return [found[k] for k in sorted(found)]


# A letter that reads as a digit inside a number ("555 O147", "2l2"): read as that digit.
_DIGIT_LETTER = re.compile(r"(?<=\d)[OolI](?=[\d\s./-])|(?<=[\d\s./-])[OolI](?=\d)")
_AS_DIGIT = {"O": "0", "o": "0", "l": "1", "I": "1"}


def _phones(text: str) -> list[tuple[re.Match[str], str, str | int]]:
    """Phone numbers as grouped (not dates, times or lists of order numbers), and numbers
    written any way right after a word that says they are one ("call 08001234567"); a letter O
    or l among the digits is read as the digit it looks like."""
    text = _DIGIT_LETTER.sub(lambda m: _AS_DIGIT[m.group()], text)
    out: list[tuple[re.Match[str], str, str | int]] = []
    for m in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        timed = re.match(r":\d\d", text[m.end() :]) is not None
        if (
            9 <= len(digits) <= 15
            and not _DATE.match(m.group())
            and not _NOT_PHONE.search(m.group())
            and not timed
        ):
            out.append((m, digits, 0))
    for m in _CALL.finditer(text):
        digits = re.sub(r"\D", "", m.group("number"))
        if 7 <= len(digits) <= 15 and not _NOT_PHONE.search(m.group("number")):
            out.append((m, digits, "number"))
    return out


def _under(host: str, domains: Iterable[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains if d)


@dataclass(frozen=True)
class Trust:
    """What a run may point people to: hosts, addresses, phone numbers and accounts it knows."""

    domains: frozenset[str]  # the company's own (configured) and the hosts of links the systems gave
    emails: frozenset[str]
    phones: frozenset[str]
    ibans: frozenset[str]

    @classmethod
    def of(cls, facts: dict[str, Any], trusted_domains: Iterable[str] = ()) -> Trust:
        hosts = {_host(u) for u in facts.get("links") or []}
        domains = {d.strip().lower().lstrip(".") for d in trusted_domains if d.strip()}
        emails = {e.lower() for e in facts.get("emails") or []}
        if facts.get("requester_email"):
            emails.add(str(facts["requester_email"]).lower())
        phones = {re.sub(r"\D", "", str(p)) for p in facts.get("phones") or []}
        ibans = {str(v.get("iban")) for v in (facts.get("vendors") or {}).values() if v.get("iban")}
        return cls(
            frozenset((hosts | domains) - {""}), frozenset(emails), frozenset(phones), frozenset(ibans)
        )

    def trusts(self, span: Span) -> bool:
        if span.kind in ("link", "domain"):
            return bool(span.value) and _under(span.value, self.domains)
        if span.kind == "image":
            return False  # a remote image loads on open, telling its host who read the message
        if span.kind == "email":
            return span.value in self.emails
        if span.kind == "phone":
            return span.value in self.phones
        return span.value in self.ibans


_WHAT = {
    "link": "links to",
    "image": "loads a remote image from",
    "domain": "names the domain",
    "email": "names the address",
    "phone": "gives the phone number",
    "iban": "gives the bank account",
}


def untrusted_spans(text: str, trust: Trust) -> list[Span]:
    return [s for s in spans(text) if not trust.trusts(s)]


def describe(span: Span, facts: dict[str, Any]) -> str:
    """A reason naming the exact span, and what personal data a link carries, if any."""
    reason = f"the message {_WHAT[span.kind]} '{span.text}', which nothing in this run vouches for"
    if span.kind in ("link", "image"):
        decoded = unquote(span.text).lower()
        carried = [e for e in facts.get("emails") or [] if e and e.lower() in decoded]
        if facts.get("requester_email") and str(facts["requester_email"]).lower() in decoded:
            carried.append(str(facts["requester_email"]).lower())
        if carried:
            reason += f"; it carries {sorted(set(carried))[0]}"
    return reason


def strip_untrusted(text: str, trust: Trust) -> tuple[str, list[Span]]:
    """`text` without remote images and untrusted links, domains, numbers and accounts."""
    bad: list[Span] = []
    for span in sorted(untrusted_spans(text, trust), key=lambda s: (s.start, s.start - s.end)):
        if not bad or span.start >= bad[-1].end:  # one removal a place (an address in a link goes with it)
            bad.append(span)
    out = text
    for s in reversed(bad):
        out = out[: s.start] + ("" if s.kind == "image" else "[removed]") + out[s.end :]
    return re.sub(r"[ \t]{2,}", " ", out), bad
