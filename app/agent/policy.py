"""The approval gate's policy: one place, deterministic, never steered by the model.

Every write goes through `Policy.decide`. By default it needs a person. Risk
comes from checking the write's arguments against what the run knows for a
fact (its facts: the ticket's requester, the record's counterparty, and the ids,
owners, amounts and payees that read tools returned, as each tool's connector
states them), never from anything the model or
outside text claims. A standing rule that a person approved may let a matching
low-risk write run at once; rules live in the store and configuration, and no
tool, prompt or outside text can create, widen or use one beyond its terms.
"""

from __future__ import annotations

import fnmatch
import math
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from jsonschema import Draft202012Validator

from app.agent import injection, outgoing, provenance
from app.agent.values import strings, texts
from app.text import INVISIBLE
from connectors.base import Money
from tools.base import SEPARATOR, FactsOf, Tool

Risk = Literal["low", "medium", "high"]
_RANK = {"low": 0, "medium": 1, "high": 2}
_EMAIL = outgoing.EMAIL
_IBAN = outgoing.IBAN
# Read-result strings at least this long are outside text (notes, bodies, articles); shorter
# ones are the systems' own values. Kept per read up to READ_TEXT_CHARS, for provenance.
READ_TEXT_CHARS = 8_000
# An internal note's text, kept to see it quoted in a public message (its start is enough).
NOTE_CHARS = 2_000
_NOTE_TEXT = ("plain_body", "body", "text")
_NOTE_GRAM = 8  # words in a row that make a message a quote of a note
_ID_KEYS = re.compile(r"(?:^|_)id$|Id$|^number$|^invoice_number$|^order$")
# A money movement whose amount cannot be known counts as more than any threshold.
UNBOUNDED = 2**63 - 1
PAYEE_KEYS = ("iban", "account_number", "bank_account", "payee", "payee_account")


@dataclass(frozen=True)
class StandingRule:
    """'Writes matching `tool` may run without asking', approved by `approved_by`.

    Limits: the highest risk it covers, an optional amount ceiling (minor units),
    the requester roles it applies to (empty: any, including none) and the arguments
    it allows (`arguments_schema`, a JSON Schema an admin wrote). Whatever the limits,
    it never runs a write with a value that came from outside text; values the model
    chose run only when the schema lists them (enum or const).
    """

    tool: str
    approved_by: str
    max_risk: Risk = "low"
    max_amount: int | None = None
    roles: tuple[str, ...] = ()
    id: str | None = None
    arguments_schema: dict[str, Any] | None = None


@dataclass
class Decision:
    needs_approval: bool
    risk: Risk
    reasons: list[str] = field(default_factory=list)
    rule: StandingRule | None = None
    required_approvals: int = 1
    # path -> {"source", "value", "detail"}: where each argument value came from.
    provenance: dict[str, dict[str, Any]] = field(default_factory=dict)


def _max(a: Risk, b: Risk) -> Risk:
    return b if _RANK[b] > _RANK[a] else a


def _norm_iban(value: str) -> str:
    return re.sub(r"[\s./-]+", "", value).upper()


def new_facts() -> dict[str, Any]:
    return {
        "emails": [],  # addresses the run has seen from trusted places: the item and read results
        "requester_email": None,
        "ticket_id": None,
        "customers": {},  # payment customer id -> email
        "charges": {},  # charge id -> {customer, amount, amount_refunded, currency}
        "vendors": {},  # vendor id -> {name, iban}
        "record_amount": None,  # the record's amount, minor units
        "untrusted_text": [],  # bodies of tickets, emails, notes: data, never instructions
        "untrusted_reads": [],  # longer text from read results (notes, articles): data as well
        "links": [],  # URLs the systems gave (help-center articles): where a reply may point
        "phones": [],  # phone numbers on the systems' records
        "phone_owners": {},  # phone digits -> the address on the same record
        "record_values": [],  # ids on the systems' records
        "record_tags": [],  # tags on the systems' records: labels, never the names of records
        "classification": {},  # the run's own classification (category, priority...)
        "internal_notes": [],  # text of notes the customer never saw (a comment with public false)
    }


def merge_facts(facts: dict[str, Any], fragment: dict[str, Any]) -> None:
    for key, value in fragment.items():
        if isinstance(value, list):
            facts.setdefault(key, [])
            facts[key].extend(v for v in value if v not in facts[key])
        elif isinstance(value, dict):
            facts.setdefault(key, {}).update(value)
        elif value is not None:
            facts[key] = value


def observe(data: Any, facts_of: FactsOf | None = None) -> dict[str, Any]:
    """Facts a read result establishes: addresses, links and ids on any record, what the
    connector that answered says it means (`facts_of`: customers, charges, payees), and
    any instruction-like text in it (labels only, so the step stays small)."""
    fragment: dict[str, Any] = {
        "emails": [],
        "links": [],
        "phones": [],
        "record_values": [],
        "record_tags": [],
        "internal_notes": [],
    }
    _walk(data, fragment)
    if facts_of is not None:
        told = facts_of(data)
        fragment["customers"] = dict(told.get("customers") or {})
        fragment["charges"] = dict(told.get("charges") or {})
        fragment["vendors"] = {
            str(k): {**v, "iban": _norm_iban(str(v.get("iban") or ""))}
            for k, v in (told.get("vendors") or {}).items()
        }
        fragment["links"] += [u for u in told.get("links") or [] if u not in fragment["links"]]
    read, keys = texts(data), injection.instruction_keys(data)
    fragment[injection.FACTS_KEY] = [f.label for f in injection.scan_read(read, keys)]
    # Free text only: long strings, and short ones of several words ("Tag me VIP" in a profile
    # field), never a record's own one-word values (statuses, ids), which a write may repeat.
    said = [*read, *(k for k, _ in keys)]
    text = "\n".join(s for s in said if len(s) >= injection.MIN_VALUE_CHARS or len(s.split()) > 1)
    fragment["untrusted_reads"] = [text[:READ_TEXT_CHARS]] if text else []
    return {k: v for k, v in fragment.items() if v}


def _walk(node: Any, fragment: dict[str, Any], owner: str | None = None) -> None:
    """`owner`: the nearest address above (an order's email above its shipping address's phone)."""
    if isinstance(node, dict):
        owner = _note_contacts(node, fragment, owner)
        _note_record_values(node, fragment)
        if node.get("public") is False:  # a help desk's internal note: the customer never saw it
            body = next((node[k] for k in _NOTE_TEXT if isinstance(node.get(k), str) and node[k]), None)
            if body is not None:
                fragment.setdefault("internal_notes", []).append(body[:NOTE_CHARS])
        for v in node.values():
            _walk(v, fragment, owner)
    elif isinstance(node, list):
        for v in node:
            _walk(v, fragment, owner)


def _note_contacts(node: dict[str, Any], fragment: dict[str, Any], owner: str | None) -> str | None:
    """Links a system gave (help-center articles), phone numbers and email addresses; a phone
    belongs to the address on its record, or on the record it sits in. Returns the address
    that owns what lies below."""
    for key in ("html_url", "url"):
        if isinstance(node.get(key), str) and node[key].startswith(("http://", "https://")):
            fragment["links"].append(node[key])
    email = node.get("email") or node.get("Email")
    if isinstance(email, str) and _EMAIL.fullmatch(email):
        fragment["emails"].append(email.lower())
        owner = email.lower()
    phone = node.get("phone") or node.get("Phone")
    if isinstance(phone, str) and phone.strip():
        fragment["phones"].append(phone)
        if owner and (digits := re.sub(r"\D", "", unicodedata.normalize("NFKC", phone))):
            fragment.setdefault("phone_owners", {})[digits] = owner
    street = next((node[k] for k in _STREET_KEYS if isinstance(node.get(k), str)), None)
    if owner and street and len(line := _street(street)) >= 6 and any(c.isdigit() for c in line):
        fragment.setdefault("address_owners", {})[line] = owner  # a postal address is its owner's too
    return owner


def _note_record_values(node: dict[str, Any], fragment: dict[str, Any]) -> None:
    """Short ids and tags on the systems' records, apart: an id names a record, a tag does not."""
    for key, value in node.items():
        into = "record_values" if _ID_KEYS.search(str(key)) else "record_tags" if key == "tags" else None
        if into is None:
            continue
        for v in value if isinstance(value, list) else [value]:
            short = isinstance(v, str | int) and not isinstance(v, bool) and len(str(v)) < 80
            if short and v not in fragment[into]:
                fragment[into].append(v)


# A run of digits as people write a phone number: any dashes, dots, spaces, slashes, brackets.
_DIGIT_RUN = re.compile(r"\+?\d(?:[\s\-\u2010-\u2015\u2212.\u00b7/()]{0,3}\d){6,}")
# A number read out: its digits in words ("oh" and "o" for zero, British "nought" and "nil"),
# words between them dropped.
_SPOKEN = re.compile(
    r"\b(?:zero|oh|o|nought|naught|nil|one|two|three|four|five|six|seven|eight|nine)\b", re.IGNORECASE
)
# "double five", "triple five": British for 55 and 555.
_REPEATED = re.compile(r"\b(double|triple)[\s-]+(\d)\b", re.IGNORECASE)
_SPOKEN_DIGITS = {
    w: str(i)
    for i, w in enumerate(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
}


def _spoken(text: str) -> str:
    """`text` with digits said in words written as digits ("two one two, oh one" is "2 1 2 0 1")
    and what stands between them when read out (commas, "then", "and", "dash") made one space,
    for reading phone numbers."""
    digits = _SPOKEN.sub(lambda m: _SPOKEN_DIGITS.get(m.group().lower(), "0"), text)
    digits = _REPEATED.sub(
        lambda m: " ".join(m.group(2) * (2 if m.group(1).lower() == "double" else 3)), digits
    )
    pause = r"(?:[\s,]|\b(?:then|and|dash|hyphen|space)\b){1,40}"  # each character one way: no backtracking
    return re.sub(rf"(?<=\d){pause}(?=\d)", " ", digits, flags=re.IGNORECASE)


# Where a record keeps a postal address's street line (Shopify, Stripe, Zendesk, HubSpot).
_STREET_KEYS = ("address1", "line1", "street", "address", "Address1", "Street")


def _street(text: str) -> str:
    """A street line as compared: its words, lower-cased, one space apart."""
    return " ".join(re.findall(r"[^\W_]+", unicodedata.normalize("NFKC", text).lower()))


# How a street line may be written otherwise: its type abbreviated, its number in words.
_STREET_WORDS = {
    "rd": "road",
    "st": "street",
    "ave": "avenue",
    "av": "avenue",
    "blvd": "boulevard",
    "dr": "drive",
    "ln": "lane",
    "ct": "court",
    "pl": "place",
    "sq": "square",
    "hwy": "highway",
    "pkwy": "parkway",
    "str": "strasse",
    "straße": "strasse",
    "cres": "crescent",
    "tce": "terrace",
}
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}


def _street_words(text: str) -> list[str]:
    return [_NUMBER_WORDS.get(w, _STREET_WORDS.get(w, w)) for w in _street(text).split()]


def _owned_streets(text: str, owners: dict[str, str]) -> list[tuple[str, str]]:
    """(street line, its owner) for each postal address of a record the text gives: as the record
    writes it, or its street's name with its house number right before it or right after it
    (`Harbour Road 12`, as much of Europe writes it; not after it when another number stands
    before it), the number marked (`Harbour Road No. 12`, `Hauptstraße Nr. 12`, `No 12 on Harbour
    Road`), its letter apart (`12 A` for `12a`), its unit left out or moved (`Apt 4`), its type
    abbreviated (`Rd.`) or its number in words (`twelve`)."""
    written = f" {_street(text)} "
    said = _street_words(text)
    at: dict[str, list[int]] = {}
    for i, w in enumerate(said):
        at.setdefault(w, []).append(i)
    found = []
    for line, owner in owners.items():
        number, name = _house_and_name(_street_words(line))
        if f" {line} " in written:
            found.append((line, owner))
            continue
        if not number or not name:
            continue
        for i in at.get(name[0], ()):
            if said[i : i + len(name)] == name and _numbered_here(said, i, i + len(name), number):
                found.append((line, owner))
                break
    return found


_HOUSE = re.compile(r"\d+[a-z]?")  # 12, 12a
# Words that mark a house number ("No. 12", German "Nr. 12", Italian "n. 12", "nº 12").
_NUMBER_MARKS = frozenset({"no", "number", "nr", "n", "num"})
# Words that start a flat's or a unit's part of a street line ("12 Harbour Road Apt 4").
_UNIT_WORDS = frozenset(
    {"apt", "apartment", "unit", "flat", "suite", "ste", "floor", "fl", "room", "rm", "bldg", "building"}
    | {"basement", "wohnung", "whg", "etage"}
)
_ORDINAL = re.compile(r"\d+(?:st|nd|rd|th)")
_FLOORS = frozenset({"floor", "fl", "flr", "etage"})
_FLOOR_NUMBER = re.compile(r"[a-z]?\d{1,3}[a-z]?|[a-z]")  # Level 3, 3A, G, B2


def _unit_at(words: list[str], j: int) -> bool:
    """Whether a unit's part of a street line starts at words[j]: a unit's word, or a floor
    written with its number first ("2nd Floor", "Ground Floor") or after "level" ("Level 3").
    Not an ordinal or "ground" alone: "1st Avenue" and "Ground Lane" are streets."""
    word, after = words[j], words[j + 1] if j + 1 < len(words) else ""
    if word in _UNIT_WORDS:
        return True
    if (_ORDINAL.fullmatch(word) or word in ("ground", "first", "second", "third")) and after in _FLOORS:
        return True
    return word in ("level", "lvl") and bool(_FLOOR_NUMBER.fullmatch(after))


def _numbered_here(said: list[str], start: int, end: int, number: str) -> bool:
    """Whether the street's name at said[start:end] has the house number `number` beside it:
    right before it ("12 Harbour Road", "12 A Harbour Road", "No 12 on Harbour Road") or right
    after it, marked or not ("Harbour Road 12", "Harbour Road No. 12"), when no other number
    stands right before the name ("40 High Street, 12 March" gives no one's "12 High Street")."""
    before = said[start - 1] if start > 0 else ""
    if before == number or (
        start > 1 and len(before) == 1 and before.isalpha() and said[start - 2] + before == number
    ):
        return True
    if before == "on" and start > 2 and said[start - 2] == number and said[start - 3] in _NUMBER_MARKS:
        return True
    if _HOUSE.fullmatch(before) or (len(before) == 1 and start > 1 and said[start - 2].isdigit()):
        return False
    k = end + 1 if end < len(said) and said[end] in _NUMBER_MARKS else end
    after = said[k] if k < len(said) else ""
    letter = said[k + 1] if k + 1 < len(said) and len(said[k + 1]) == 1 and said[k + 1].isalpha() else ""
    return after == number or (bool(letter) and after + letter == number)


def _house_and_name(words: list[str]) -> tuple[str | None, list[str]]:
    """A street line's house number and the street's name after it ("flat 3 12a harbour road":
    12a, harbour road; "12 harbour road apt 4": 12, harbour road), or before it ("harbour road
    12", "harbour road no 12")."""
    house = [bool(_HOUSE.fullmatch(w)) for w in words]
    for k in range(len(words) - 2, -1, -1):
        if house[k] and not house[k + 1]:
            cut = next((j for j in range(k + 1, len(words)) if house[j] or _unit_at(words, j)), len(words))
            if name := _name_only(words[k + 1 : cut]):
                return words[k], name
            j = k  # a unit after the number: the name is before it ("harbour road 12 apt 4")
            while j > 0 and not house[j - 1] and not _unit_at(words, j - 1):
                j -= 1
            if name := _name_only(words[j:k]):
                return words[k], name
    if words and house[-1]:
        k = len(words) - 1
        while k > 0 and not house[k - 1]:
            k -= 1
        return words[-1], _name_only(words[k:-1])
    return None, []


def _name_only(name: list[str]) -> list[str]:
    """A street's name without a number's mark or a unit's word at its end."""
    while name and (name[-1] in _NUMBER_MARKS or name[-1] in _UNIT_WORDS):
        name = name[:-1]
    return name


def _owned_numbers(text: str, owners: dict[str, str]) -> list[tuple[str, str]]:
    """(as written, owner) for each phone on someone's record that the text gives, however it is
    separated (none, en dashes, middle dots, fullwidth digits); the same number with or without
    its country code counts (the last nine digits or more agree)."""
    if not owners:
        return []
    read = unicodedata.normalize("NFKC", text)
    out: list[tuple[str, str]] = []
    spoken = (
        list(_DIGIT_RUN.finditer(_spoken(read))) if _SPOKEN.search(read) or _REPEATED.search(read) else []
    )
    for m in [*_DIGIT_RUN.finditer(read), *spoken]:
        digits = re.sub(r"\D", "", m.group())
        for known, owner in owners.items():
            shorter = min(len(digits), len(known))
            if len(known) >= 7 and (
                digits == known or (shorter >= 9 and digits[-shorter:] == known[-shorter:])
            ):
                out.append((m.group().strip(), owner))
                break
    return out


# Why a write whose requester nobody recorded needs two approvers (see `Policy.decide`).
UNKNOWN_REQUESTER = (
    "who asked for this write was never recorded: two different approvers, so whoever asked "
    "cannot approve it alone"
)


_MONEY_KEY = re.compile(r"amount|total|price|cents", re.IGNORECASE)
_DECIMAL = re.compile(r"\s*\d+(?:[.,]\d+)?\s*")


def stated_amount(arguments: Any, depth: int = 0) -> int | None:
    """The largest amount an undeclared write states anywhere in its arguments, in minor units:
    under a key that names money (`amount`, `total_cents`, `price`), as a number (an integer
    counts as minor units, a fraction or a decimal string as major units, the larger reading),
    or an object holding its `value` (PayPal's and Adyen's shape). A money key holding anything
    else counts as unbounded; None when no argument names money."""
    found: int | None = None
    items = (
        arguments.items()
        if isinstance(arguments, dict)
        else enumerate(arguments)
        if isinstance(arguments, list)
        else ()
    )
    for key, value in items:
        if depth > 6:
            return UNBOUNDED
        amount = _money_value(value) if isinstance(key, str) and _MONEY_KEY.search(key) else None
        if amount is None and isinstance(value, (dict, list)):
            amount = stated_amount(value, depth + 1)
        if amount is not None:
            found = max(found or 0, amount)
    return found


def _money_value(value: Any) -> int | None:
    if isinstance(value, dict):
        inner = value.get("value", value.get("amount"))
        return UNBOUNDED if inner is None else _money_value(inner)
    if isinstance(value, bool) or value is None:
        return UNBOUNDED
    if isinstance(value, int):
        return value if value >= 0 else UNBOUNDED  # a negative amount moves money one way or the other
    if isinstance(value, float):
        return UNBOUNDED if not math.isfinite(value) or value < 0 else math.ceil(Decimal(repr(value)) * 100)
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        text = value.strip()
        readings = [Decimal(text.replace(",", "."))]
        if "," in text and len(text.partition(",")[2]) == 3:
            readings.append(Decimal(text.replace(",", "")))  # "50,000": fifty thousand, as often written
        return min(math.ceil(max(readings) * 100), UNBOUNDED)
    return UNBOUNDED


# The words of a key (`paymentPspReference`, `order_id`): a key whose last word names a record
# (an id, a charge, an order, a reference) names what an imported write takes money from; a key
# with a word every write of an account shares (its merchant account, currency, location, the
# method or reason of a refund) never does.
_KEY_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_RECORD_WORDS = frozenset(
    [
        "id",
        "ids",
        "uuid",
        "ref",
        "reference",
        "charge",
        "payment",
        "intent",
        "order",
        "invoice",
        "capture",
        "transaction",
        "txn",
        "refund",
        "booking",
        "subscription",
        "receipt",
        "dispute",
        "source",
        "sale",
        "number",
        "no",
    ]
)
_SHARED_WORDS = frozenset(
    [
        "merchant",
        "account",
        "currency",
        "version",
        "idempotency",
        "api",
        "location",
        "store",
        "shop",
        "realm",
        "tenant",
        "organization",
        "organisation",
        "org",
        "method",
        "reason",
        "status",
        "type",
        "mode",
        "country",
        "locale",
        "language",
        "channel",
    ]
)
# A value shaped like an id under any other key: a token with a digit (`ch_3Nx9`, `T-1001`, a
# UUID), not a date, not a plain number; read from the segments of a path or URL too.
_ID_SHAPED = re.compile(r"^(?=[^\d]*\d)[A-Za-z0-9][A-Za-z0-9_\-:.]{2,199}$")
_NOT_AN_ID = re.compile(r"^\d{4}-\d{2}-\d{2}|^[\d.,]+$")


def naming_values(arguments: Any, key: Any = None, depth: int = 0) -> set[str]:
    """Values in an imported write's arguments that name the record its money comes from (it
    declares no source): any value under a key whose last word names a record (`id`, `order_id`,
    `paymentPspReference`, `charge`, `source`, `txn`), and id-shaped values under other keys
    (in a path or URL too); none under a key with a word an account shares (`merchantAccount`,
    `location_id`, `payment_method`, `refund_reason`) or one that names money. Two writes
    naming one record are weighed together."""
    if depth > 6:
        return set()
    if isinstance(arguments, dict):
        return {v for k, x in arguments.items() for v in naming_values(x, k, depth + 1)}
    if isinstance(arguments, list):
        return {v for x in arguments for v in naming_values(x, key, depth + 1)}
    words = [w.lower() for w in _KEY_WORDS.findall(key)] if isinstance(key, str) else []
    if isinstance(key, str) and (_MONEY_KEY.search(key) or _SHARED_WORDS.intersection(words)):
        return set()
    names = bool(words) and words[-1] in _RECORD_WORDS
    if isinstance(arguments, int) and not isinstance(arguments, bool):
        return {str(arguments)} if names else set()
    if not isinstance(arguments, str) or not arguments.strip():
        return set()
    text = arguments.strip()
    found = {text} if names and len(text) <= 200 else set()
    parts = re.split(r"[/?&=#]+", text) if "/" in text or "?" in text else [text]
    return found | {p for p in parts if _ID_SHAPED.match(p) and not _NOT_AN_ID.match(p)}


def covers(pattern: str, tool: Tool) -> bool:
    """Whether a standing rule's `connection__operation` glob names `tool`. Each side is matched
    on its own, so "helpdesk__*" never reaches the tools of a connection named "helpdesk_"
    (whose joined names, "helpdesk___…", the whole glob would match)."""
    connection, sep, operation = pattern.partition(SEPARATOR)
    if not sep:
        return fnmatch.fnmatchcase(tool.name, pattern)
    return fnmatch.fnmatchcase(tool.connection, connection) and fnmatch.fnmatchcase(tool.operation, operation)


class Policy:
    def __init__(
        self,
        standing_rules: list[StandingRule] | None = None,
        *,
        two_approvers_above: int = 50_000,
        trusted_domains: tuple[str, ...] | list[str] = (),
    ):
        self.standing_rules = list(standing_rules or [])
        # Money writes (refunds, payments, journal entries by their debits) above this many minor
        # units need two different approvers.
        self.two_approvers_above = two_approvers_above
        # The company's own domains: messages may link to them (and their subdomains).
        self.trusted_domains = tuple(trusted_domains)

    def without_rules(self) -> Policy:
        """The same gate with no standing rule: for a person's decision on an edited write."""
        return Policy(two_approvers_above=self.two_approvers_above, trusted_domains=self.trusted_domains)

    # -- risk -------------------------------------------------------------------
    def assess(
        self, tool: Tool, arguments: dict[str, Any], facts: dict[str, Any]
    ) -> tuple[Risk, list[str], int | None]:
        """Risk, the reasons for it, and the amount at stake (minor units) if any."""
        risk: Risk = "low"
        reasons: list[str] = []

        def flag(level: Risk, reason: str) -> None:
            nonlocal risk
            risk = _max(risk, level)
            reasons.append(reason)

        # Promise 3: instruction-like text in the item or a read result makes every write suspect.
        # The detector is one signal: alone it asks for a careful look (medium, so never a
        # low-risk standing rule or a bulk decision); with a value of the write traced to
        # outside text (see decide) it is high.
        if tool.is_write and (steered := injection.risk_reason(facts)) is not None:
            flag("medium", steered)
        does = tool.does
        if does.is_public_message(arguments):
            flag("medium", "sends a message people outside the team will read")
        if does.money is not None:
            flag("medium", "moves money, which cannot be undone")
        if does.is_final(arguments):
            flag("medium", "a final submission: it cannot be changed or withdrawn once made")
        if does.payee is not None:
            flag("medium", "creates or changes a payee: where money is paid from now on")
        self._message(tool, arguments, facts, flag)
        known = {e.lower() for e in facts.get("emails", [])}
        requester = (facts.get("requester_email") or "").lower()
        if requester:
            known.add(requester)
        for email in {
            e.lower() for text in strings(arguments) for e in (m.group() for m in outgoing.emails_in(text))
        }:
            if email not in known:
                flag("high", f"address {email} appears nowhere in the run's context")
        ticket_id = facts.get("ticket_id")
        target = arguments.get("ticket_id")
        if ticket_id is not None and target is not None and str(target) != str(ticket_id):
            flag("high", f"acts on ticket {target}, but this run is about ticket {ticket_id}")

        hidden = sorted({f"U+{ord(c):04X}" for text in strings(arguments) for c in INVISIBLE.findall(text)})
        if hidden:
            flag(
                "high",
                f"holds invisible or direction-changing characters ({', '.join(hidden[:4])}): "
                "a value may read as something it is not",
            )
        amount = self._amount(tool, arguments, facts, flag)
        self._payee(tool, arguments, facts, flag)
        pipeline_findings(tool, arguments, facts, flag)
        return risk, reasons, amount

    def _amount(self, tool: Tool, arguments: dict[str, Any], facts: dict[str, Any], flag: Any) -> int | None:
        """The money at stake in minor units, as declared by the operation; None when it moves none.

        A money movement without an amount moves all that its source has left; when that is
        unknown (the source was never read), or an amount is given that is not a finite number
        (`Money.minor_amount`), the amount counts as unbounded."""
        money = tool.does.money
        # An undeclared write's `amount` argument, in minor units, still counts against the record,
        # and is weighed as money: an imported operation (OpenAPI, MCP) cannot declare what it
        # moves, and one made from a payment API's document carries it in its request `body`.
        amount = (money or Money()).minor_amount(arguments)
        undeclared = not tool.does.declared and tool.is_write
        if undeclared:
            amount = stated_amount(arguments)
        if undeclared and amount is not None:
            flag("medium", f"states an amount ({amount}) and declares nothing it does: weighed as money")
        if money is not None and amount is None:
            if money.lines is not None:
                flag(
                    "high",
                    f"moves money, but its {money.lines} do not give each {money.amount} "
                    "as a finite number of at least 0",
                )
                amount = UNBOUNDED
            elif money.amount is not None and (stated := arguments.get(money.amount)) is not None:
                flag(
                    "high",
                    f"moves money, but its {money.amount} {_short(stated)} is not a finite number of at least 0",
                )
                amount = UNBOUNDED
        source_id = arguments.get(money.source) if money is not None and money.source else None
        if money is not None and source_id is not None:
            charge = facts.get("charges", {}).get(str(source_id))
            if charge is None:
                flag(
                    "high",
                    f"charge {source_id} was never read in this run; its owner and amount are unverified",
                )
                if amount is None:
                    amount = UNBOUNDED
            else:
                remaining = int(charge.get("amount") or 0) - int(charge.get("amount_refunded") or 0)
                if amount is None:
                    amount = remaining
                elif amount > remaining:
                    flag(
                        "high", f"refund of {amount} exceeds what is left on charge {source_id} ({remaining})"
                    )
                self._owner(str(source_id), charge, facts, flag)
        elif money is not None and amount is None:
            amount = UNBOUNDED
            if money.amount is None:
                flag(
                    "high",
                    "moves money that the system prices only when the write is made: how much is unknown",
                )
            else:
                flag("high", "moves money without saying how much")
        record_amount = facts.get("record_amount")
        if amount is not None and record_amount is not None and amount > int(record_amount):
            shown = "an unknown amount" if amount == UNBOUNDED else f"amount {amount}"
            flag("high", f"{shown} is larger than the record's amount {record_amount}")
        return amount

    @staticmethod
    def _together(
        tool: Tool, arguments: dict[str, Any], facts: dict[str, Any], own: int, in_run: int, alongside: int
    ) -> list[tuple[Risk, str]]:
        """What `_amount` checks of one write, checked of it with the others from its source: the
        run's part against the record's amount, all of it against what is left on the charge."""
        found: list[tuple[Risk, str]] = []
        record_amount = facts.get("record_amount")
        if in_run and record_amount is not None and own <= int(record_amount) < own + in_run:
            total = min(own + in_run, UNBOUNDED)
            shown = "an unknown amount" if total == UNBOUNDED else f"{total} in all"
            found.append(
                (
                    "high",
                    f"with the run's other writes, {shown} is larger than the record's amount {record_amount}",
                )
            )
        money = tool.does.money
        source_id = arguments.get(money.source) if money is not None and money.source else None
        charge = facts.get("charges", {}).get(str(source_id)) if source_id is not None else None
        if isinstance(charge, dict):
            remaining = int(charge.get("amount") or 0) - int(charge.get("amount_refunded") or 0)
            if own <= remaining < own + alongside:
                total = min(own + alongside, UNBOUNDED)
                shown = "an unknown amount" if total == UNBOUNDED else f"{total} in all"
                found.append(
                    (
                        "high",
                        f"with the other writes from charge {source_id}, {shown} exceeds what is left on it ({remaining})",
                    )
                )
        return found

    def _message(self, tool: Tool, arguments: dict[str, Any], facts: dict[str, Any], flag: Any) -> None:
        """Links, domains, numbers and accounts in the message text that the run does not trust.

        Addresses (written with an @) and IBANs are checked for every argument below; here they
        are left out. An address spelled out ("at ... dot") only this check sees."""
        message = tool.does.message
        if message is None:
            return
        public = tool.does.is_public_message(arguments)
        level: Risk = "high" if public else "medium"
        trust = outgoing.Trust.of(facts, self.trusted_domains)
        # The customer's own contact details are trusted in a reply to them; passed on to
        # colleagues (a chat channel, an issue) they are personal data a person should see go.
        theirs = {str(facts.get("requester_email") or "").lower()} | {
            re.sub(r"\D", "", str(p)) for p in facts.get("phones") or []
        }
        requester = str(facts.get("requester_email") or "").lower()
        recipient = str(arguments.get("requester_email") or "").lower()
        seen: set[str] = set()
        for name in message.text:
            for text in strings(arguments.get(name)):
                owners = facts.get("phone_owners") or {}
                if public:
                    for line, owner in _owned_streets(text, facts.get("address_owners") or {}):
                        if owner != requester and line not in seen:
                            seen.add(line)
                            flag("high", f"the message gives '{line}', the postal address of {owner}")
                if public and requester:
                    self._someone_elses(text, requester, recipient, trust, owners, seen, flag)
                elif public:
                    self._nobodys_to_give(text, trust, owners, seen, flag)
                if message.audience == "team":
                    for span in outgoing.spans(text):
                        if (
                            span.kind in ("email", "phone")
                            and span.value in theirs - {""}
                            and span.text not in seen
                        ):
                            seen.add(span.text)
                            flag("medium", f"passes the customer's {span.kind} '{span.text}' on to the team")
                if public and (quoted := _quotes_a_note(text, facts.get("internal_notes") or [])):
                    flag("high", f"quotes an internal note the customer never saw: '{quoted}…'")
                for span in outgoing.untrusted_spans(text, trust):
                    written = span.kind == "email" and "@" in span.text
                    if written or span.kind == "iban" or span.text in seen:
                        continue
                    seen.add(span.text)
                    flag(level, outgoing.describe(span, facts))

    @staticmethod
    def _someone_elses(
        text: str,
        requester: str,
        recipient: str,
        trust: outgoing.Trust,
        phone_owners: dict[str, str],
        seen: set[str],
        flag: Any,
    ) -> None:
        """A public message speaks to the requester: another customer's address or phone the
        run happened to read (a search that returned their ticket) is theirs to keep, and the
        requester's own goes to nobody else. A phone is someone's when their record holds it
        beside their address."""
        found = [span for span in outgoing.spans(text) if span.kind == "email"]
        theirs: list[str] = []  # the requester's address or phone, however it is written
        for span in found:
            if span.value == requester:
                theirs.append(requester)
                continue
            if span.text in seen or span.value not in trust.emails or _under_any(span.value, trust.domains):
                continue
            seen.add(span.text)
            flag("high", f"the message gives '{span.text}', someone's address other than the requester's")
        owned = _owned_numbers(text, phone_owners)
        for written, owner in owned:
            if owner == requester:
                theirs.append(f"phone number '{written}'")
            elif written not in seen and not _under_any(owner, trust.domains):
                seen.add(written)
                flag(
                    "high",
                    f"the message gives '{written}', someone's phone number other than the requester's",
                )
        known = {re.sub(r"\D", "", unicodedata.normalize("NFKC", w)) for w, _ in owned}
        for span in outgoing.spans(text):
            # a phone a read returned with no address on its record (an order paid by SMS, a call)
            unowned = span.kind == "phone" and span.value in trust.phones and span.value not in known
            if unowned and span.text not in seen:
                seen.add(span.text)
                flag(
                    "high",
                    f"the message gives '{span.text}', a phone number a read returned whose owner "
                    "this run cannot tell",
                )
        if recipient and recipient != requester and theirs and requester not in seen:
            seen.add(requester)
            what = f"address {requester}" if requester in theirs else theirs[0]
            flag("high", f"the message goes to {recipient} and carries the requester's {what}")

    @staticmethod
    def _nobodys_to_give(
        text: str, trust: outgoing.Trust, phone_owners: dict[str, str], seen: set[str], flag: Any
    ) -> None:
        """A public message from a run with no requester (a chat turn): an address or phone a
        read returned (a partner's profile, another customer's record) is someone's, and nothing
        says it is the reader's to be given."""
        for span in outgoing.spans(text):
            if (
                span.kind == "email"
                and span.value in trust.emails
                and not _under_any(span.value, trust.domains)
            ):
                if span.text not in seen:
                    seen.add(span.text)
                    flag(
                        "high", f"the message gives '{span.text}', an address a read returned, to the public"
                    )
            elif span.kind == "phone" and span.value in trust.phones and span.text not in seen:
                seen.add(span.text)
                flag(
                    "high", f"the message gives '{span.text}', a phone number a read returned, to the public"
                )

    @staticmethod
    def _owner(charge_id: str, charge: dict[str, Any], facts: dict[str, Any], flag: Any) -> None:
        owner = str(charge.get("customer"))
        requester = (facts.get("requester_email") or "").lower()
        customers = facts.get("customers", {})
        mine = {cid for cid, email in customers.items() if requester and email == requester}
        if requester and owner not in mine:
            if mine or owner in customers:
                who = customers.get(owner) or f"customer {owner}"
                flag("high", f"charge {charge_id} belongs to {who}, not to the requester {requester}")
            else:
                flag("medium", f"the owner of charge {charge_id} was not matched to the requester")

    def _payee(self, tool: Tool, arguments: dict[str, Any], facts: dict[str, Any], flag: Any) -> None:
        """Accounts in the arguments (the one a payee write declares, IBANs anywhere) that no
        vendor record read in this run holds."""
        vendors = facts.get("vendors", {})
        known_ibans = {v.get("iban") for v in vendors.values() if v.get("iban")}
        untrusted = " ".join(facts.get("untrusted_text", []))
        # IBANs only: the other spans' patterns have no business with a whole ticket here.
        untrusted_ibans = {s.value for s in outgoing.ibans(untrusted.upper())}
        declared = tool.does.payee
        candidates = [str(arguments[declared])] if declared and arguments.get(declared) else []
        candidates += [str(v) for k, v in _walk_items(arguments) if k.lower() in PAYEE_KEYS and v]
        # Read as a reader reads them (fullwidth digits, groups split by dots or slashes).
        candidates += [
            s.value for text in strings(arguments) for s in outgoing.spans(text.upper()) if s.kind == "iban"
        ]
        for value in dict.fromkeys(_norm_iban(raw) for raw in candidates):
            if not _IBAN.fullmatch(value) and not any(c.isdigit() for c in value):
                continue
            if value not in known_ibans:
                where = " and it comes from text inside the item" if value in untrusted_ibans else ""
                flag("high", f"payee account {value} is not on any vendor record read in this run{where}")

    # -- the decision --------------------------------------------------------
    def decide(
        self,
        tool: Tool,
        arguments: dict[str, Any],
        facts: dict[str, Any],
        *,
        requester_role: str | None = None,
        requester_unknown: bool = False,
        origin: dict[str, dict[str, Any]] | None = None,
        requester: str | None = None,
        alongside: int = 0,
        alongside_in_run: int | None = None,
    ) -> Decision:
        """The gate's decision. `origin` is the arguments' provenance when the caller knows
        it (an approver's edit); otherwise it is traced from the facts. `requester_unknown`: a
        person asked for this write but nobody recorded who (app.agent.run.requester_unknown),
        so four eyes has no name to keep from approving it and two different people must.
        `requester`: who asked for it, whom no standing rule of their own approves it for (a rule
        is its maker's approval given ahead, and nobody approves their own request).
        `alongside`: minor units other writes take from the same source (the same charge; for
        an imported write, which names none, the run's other money): the threshold, a rule's
        `max_amount` and what is left on the charge weigh them together, and the record's amount
        weighs this run's part (`alongside_in_run`, all of `alongside` when not given), so
        splitting one refund in two never dodges a second approver or a larger-than-asked check."""
        risk, reasons, amount = self.assess(tool, arguments, facts)
        weighed = tool.does.money is not None or not tool.does.declared
        if alongside and amount is not None and weighed:
            own, amount = amount, min(UNBOUNDED, amount + alongside)
            shown = "unknown" if amount == UNBOUNDED else str(amount)
            source = tool.does.money.source if tool.does.money is not None else None
            reasons.append(
                f"with the run's other writes from the same {source}: {shown} in all"
                if source
                else f"with the run's other writes that move money (this one names no source): {shown} in all"
            )
            in_run = alongside if alongside_in_run is None else alongside_in_run
            for level, why in self._together(tool, arguments, facts, own, in_run, alongside):
                risk = _max(risk, level)
                reasons.append(why)
        if not tool.is_write:
            return Decision(needs_approval=False, risk=risk, reasons=reasons)
        traced = origin if origin is not None else provenance.trace(arguments, facts, tool=tool.name)
        outside = [(path, o) for path, o in traced.items() if o.get("source") == "untrusted"]
        if outside:
            path, o = outside[0]
            more = f" and {len(outside) - 1} more value(s)" if len(outside) > 1 else ""
            flagged = any("instruction-like text" in r for r in reasons)
            risk = _max(risk, "high" if flagged else "medium")
            reasons.append(
                f"{path} {_short(o.get('value'))} comes from outside text ({o.get('detail')}){more}"
            )
        required = 1
        if weighed and amount is not None and amount > self.two_approvers_above:
            required = 2
            shown = "the amount is unknown, so counted as" if amount == UNBOUNDED else f"amount {amount} is"
            reasons.append(f"{shown} above {self.two_approvers_above}: two different approvers")
        steered = any("instruction-like text" in r for r in reasons)
        if required == 1 and not steered:
            for rule in self.standing_rules:
                if not (
                    covers(rule.tool, tool)
                    and _RANK[risk] <= _RANK[rule.max_risk]
                    and (rule.max_amount is None or (amount or 0) <= rule.max_amount)
                    and (not rule.roles or requester_role in rule.roles)
                ):
                    continue
                if requester is not None and rule.approved_by == requester:
                    reasons.append(
                        f"standing rule '{rule.tool}' was made by {requester}, who asked for this write "
                        "(four eyes): it does not approve it"
                    )
                    continue
                refused = rule_refuses(rule, arguments, traced)
                if not refused and not tool.does.declared and amount is not None:
                    # Money through an operation that declares nothing: what it is taken from is
                    # unknown, so writes splitting one sum cannot be weighed together.
                    refused = (
                        f"it moves money ({_short(amount)}) through an imported operation that does not "
                        "say where the money comes from"
                    )
                if refused:
                    reasons.append(f"standing rule '{rule.tool}' does not cover it: {refused}")
                    continue
                return Decision(
                    needs_approval=False,
                    risk=risk,
                    reasons=[*reasons, f"standing rule '{rule.tool}' approved by {rule.approved_by}"],
                    rule=rule,
                    provenance=traced,
                )
        if requester_unknown:  # after the rules: a standing rule asks nobody, as for any write
            required = max(required, 2)
            reasons.append(UNKNOWN_REQUESTER)
        return Decision(
            needs_approval=True,
            risk=risk,
            reasons=reasons or [f"writes to {tool.connection}"],
            required_approvals=required,
            provenance=traced,
        )


def rule_refuses(
    rule: StandingRule, arguments: dict[str, Any], traced: dict[str, dict[str, Any]]
) -> str | None:
    """Why a matching standing rule may not run these arguments, or None when it may.

    The rule's schema bounds the values; a value from outside text never runs unseen; a
    value the model chose runs only where the schema lists the allowed values (enum, const),
    so a paraphrased instruction the gate cannot trace still picks from an admin's list."""
    if rule.arguments_schema is not None:
        errors = sorted(
            Draft202012Validator(rule.arguments_schema).iter_errors(arguments), key=lambda e: list(e.path)
        )
        if errors:
            e = errors[0]
            where = "/".join(map(str, e.absolute_path)) or "(arguments)"
            return f"{where} is outside what the rule allows ({e.message})"
    for path, origin in traced.items():
        source = origin.get("source")
        if source == "untrusted":
            return f"{path} {_short(origin.get('value'))} comes from outside text"
        if source == "model" and not _listed(rule.arguments_schema, path):
            return (
                f"{path} {_short(origin.get('value'))} was chosen by the model and the rule does not list it"
            )
    return None


def _listed(schema: dict[str, Any] | None, path: str) -> bool:
    """Whether the rule's schema pins the value at `path` to values an admin listed (enum,
    const, a boolean): the only values the model may choose for a write that runs unseen.
    A pattern or a length bounds a value's shape, not what it says."""
    node: Any = schema
    for part in path.split("/") if path else []:
        if not isinstance(node, dict):
            return False
        if part.isdigit() and "items" in node:
            node = node["items"]
        else:
            node = (node.get("properties") or {}).get(part)
    return isinstance(node, dict) and ("enum" in node or "const" in node or node.get("type") == "boolean")


def _short(value: Any, limit: int = 60) -> str:
    shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 2] + "…'"


# -- findings a pipeline computed from its systems of record ------------------------------------
# A pipeline checks an item against what it read before the model acts (an invoice already in
# the journal, a refund already made, evidence whose claims were checked) and states, as facts,
# which writes those checks concern. They are facts like any other: derived from reads, never
# from the model, and kept with the action so an edited write is checked against them again.


def pipeline_findings(tool: Tool, arguments: dict[str, Any], facts: dict[str, Any], flag: Any) -> None:
    """Flag a write that a finding names: `operation` ("*" for any write), optional `match`
    (arguments it concerns) and `unless` (arguments that make it fine, e.g. the exact evidence
    text that was checked)."""
    for f in facts.get("findings") or []:
        if not isinstance(f, dict) or f.get("operation") not in (tool.operation, "*"):
            continue
        if any(arguments.get(k) != v for k, v in (f.get("match") or {}).items()):
            continue
        unless = f.get("unless") or {}
        if unless and all(arguments.get(k) == v for k, v in unless.items()):
            continue
        level = f.get("level") if f.get("level") in _RANK else "high"
        flag(level, str(f.get("reason") or "a check of the systems of record concerns this write"))


def _quotes_a_note(text: str, notes: list[str]) -> str | None:
    """The first words of a run of _NOTE_GRAM (or a whole shorter note of five or more) that the
    text shares with an internal note, or None."""
    words = re.findall(r"[^\W_]+", text.lower())
    said = {" ".join(words[i : i + _NOTE_GRAM]) for i in range(max(0, len(words) - _NOTE_GRAM + 1))}
    flat = " " + " ".join(words) + " "
    for note in notes:
        theirs = re.findall(r"[^\W_]+", str(note).lower())
        if 5 <= len(theirs) < _NOTE_GRAM and f" {' '.join(theirs)} " in flat:
            return " ".join(theirs[:6])
        for i in range(len(theirs) - _NOTE_GRAM + 1):
            gram = " ".join(theirs[i : i + _NOTE_GRAM])
            if gram in said:
                return " ".join(theirs[i : i + 6])
    return None


def _walk_items(value: Any) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            out.append((str(k), v))
            out.extend(_walk_items(v))
    elif isinstance(value, list):
        for v in value:
            out.extend(_walk_items(v))
    return out


def _under_any(email: str, domains: frozenset[str]) -> bool:
    """Whether an address is at one of the company's (trusted) domains: its own mailboxes."""
    host = email.rpartition("@")[2]
    return any(host == d or host.endswith("." + d) for d in domains if d)
