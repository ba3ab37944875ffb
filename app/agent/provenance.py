"""Where each argument value of a proposed write came from.

Why: a write that looks harmless (a tag, a priority) is harmful when its values
were chosen by outside text ("tag it refund_approved"). The gate cannot see
inside the model, but it can compare each value with what the run holds:
- approver: a person put it there by editing the action;
- fact: the run's trusted facts: the item's ids and requester, what read tools
  returned from the systems' records (ids, addresses, amounts, accounts). A value some
  record merely carries (an id, a tag) vouches for an argument that names a record; for
  any other argument, outside text that dictates the value wins (another ticket's `vip`
  tag says nothing about this one);
- classifier: the run's own classification (category, priority, sentiment: fixed lists);
- untrusted: it appears in outside text (the item's body, notes, articles) and
  in none of the above;
- model: none of these; the model chose it.
A standing rule never auto-runs a write with an `untrusted` value, and only runs
`model` values its argument schema lists (enum, const).
"""

from __future__ import annotations

import base64
import codecs
import re
import unicodedata
from collections.abc import Hashable
from functools import lru_cache
from typing import Any, Literal

from app.agent.injection import readable_forms

Source = Literal["approver", "fact", "classifier", "untrusted", "model"]
TRUSTED: frozenset[str] = frozenset({"approver", "fact", "classifier"})
_CONTEXT = 30
_WORDS = re.compile(r"[^\W_]+")


def leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """(path, scalar) for every scalar inside a JSON-like value; paths like 'add_tags/0'."""
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in leaves(v, f"{path}/{k}" if path else str(k))]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in leaves(v, f"{path}/{i}" if path else str(i))]
    return [(path, value)]


def _key(value: Any) -> str:
    return " ".join(_WORDS.findall(str(value).lower()))


def _trusted_values(facts: dict[str, Any]) -> dict[str, str]:
    """Normalized trusted value -> where it comes from."""
    out: dict[str, str] = {}

    def put(value: Any, where: str) -> None:
        if value is None or isinstance(value, bool) or value == "":
            return
        out.setdefault(_key(value), where)

    put(facts.get("ticket_id"), "the run's ticket")
    put(facts.get("requester_email"), "the requester")
    put(facts.get("record_amount"), "the record's amount")
    for cid in facts.get("customers") or {}:
        put(cid, "a customer the payments system returned")
    for chid, charge in (facts.get("charges") or {}).items():
        put(chid, "a charge the payments system returned")
        if isinstance(charge, dict):
            put(charge.get("amount"), f"charge {chid}")
            put(charge.get("currency"), f"charge {chid}")
            if isinstance(charge.get("amount"), int):
                put(
                    int(charge["amount"]) - int(charge.get("amount_refunded") or 0), f"what is left on {chid}"
                )
    for vid, vendor in (facts.get("vendors") or {}).items():
        put(vid, "a vendor record")
        if isinstance(vendor, dict):
            put(vendor.get("iban"), f"vendor {vid}")
            put(vendor.get("name"), f"vendor {vid}")
    return out


def _read_addresses(facts: dict[str, Any]) -> dict[str, str]:
    """Addresses reads returned (other than the requester's): any record carries one, the
    attacker's own earlier ticket included, so one vouches for a value only where no outside text
    dictates it (`_one`), as a record's tag does."""
    out = {_key(e): "an address the systems returned" for e in facts.get("emails") or [] if e}
    for email in (facts.get("customers") or {}).values():
        if email:
            out.setdefault(_key(email), "a customer the payments system returned")
    return out


def _record_values(facts: dict[str, Any]) -> dict[str, str]:
    return {_key(v): "the systems' records" for v in facts.get("record_values") or [] if v != ""}


def _record_tags(facts: dict[str, Any]) -> dict[str, str]:
    return {_key(v): "a tag on the systems' records" for v in facts.get("record_tags") or [] if v != ""}


# An argument that names a record (`ticket_id`, `order_id`, `number`): a record holding the value
# shows the record exists, which is what such an argument needs.
_NAMES_A_RECORD = re.compile(r"(?:^|_)id$|Id$|^number$|^invoice_number$|^order$")


def _names_a_record(path: str) -> bool:
    """By the argument's name; a tag's id (`tag_id`, `tags/0/id`) names a label, not a record."""
    named = [part for part in path.split("/") if not part.isdigit()]
    if any("tag" in part.lower() for part in named):
        return False
    return bool(named) and _NAMES_A_RECORD.search(named[-1]) is not None


# The classification's fields whose values come from a fixed list (the taxonomy, the priority and
# sentiment scales). A free-text field (the language, 2 to 8 characters) is not trusted: a model
# the ticket steers could write the ticket's own words there and launder them as its judgement.
CLASSIFIED_FIELDS = ("category", "priority", "sentiment")


def _classified(facts: dict[str, Any]) -> dict[str, str]:
    """Normalized classified value -> the field it is the classifier's judgement of."""
    out: dict[str, str] = {}
    for field, value in (facts.get("classification") or {}).items():
        if field not in CLASSIFIED_FIELDS:
            continue
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            out.setdefault(_key(value), field)
    return out


# A field's name as tickets write it in the detector's languages (folded: no accents, lower case).
_FIELD_NAMES = {
    "priority": (
        "priority",
        "prioritat",
        "prioritaet",
        "prioriteit",
        "prioridad",
        "priorite",
        "prioridade",
        "priorita",
    ),
    "category": ("category", "kategorie", "categorie", "categoria"),
    "status": ("status", "estado", "statut", "stato"),
    "sentiment": ("sentiment",),
    "language": ("language", "sprache", "taal", "idioma", "langue", "lingua"),
}
# Numbers 0-10 in words, in the detector's languages (folded): English, German, Dutch, Spanish,
# French, Portuguese, Italian.
_NUMBER_WORDS = [
    words.split()
    for words in (
        "zero null nul cero",
        "one eins een uno un um",
        "two zwei twee dos deux dois due",
        "three drei drie tres trois tre",
        "four vier cuatro quatre quatro quattro",
        "five funf vijf cinco cinq cinque",
        "six sechs zes seis sei",
        "seven sieben zeven siete sept sete sette",
        "eight acht ocho huit oito otto",
        "nine neun negen nueve neuf nove",
        "ten zehn tien diez dix dez dieci",
    )
]
# Words that also mean something else ("he estado esperando": I have been waiting): a field's
# name for a number only when the number is set to it ("Estado: 5", "el estado a 5").
_BEEN = frozenset({"estado", "stato"})
# Names in the Romance languages, whose "to" is "a" (Spanish, Italian, Portuguese; French "à").
_ROMANCE = frozenset(
    {"prioridad", "priorite", "prioridade", "priorita", "categoria", "categorie", "estado", "statut", "stato"}
    | {"idioma", "langue", "lingua"}
)
# What sets a field to a number, after its name within a sentence: "priority: 4", "priority
# -> 4", "the priority is now 4", "a priority of 4", "priority at 4", "the priority of this ticket
# to level 4", "... should be 4", "... needs to be 4", "Priorität auf vier", "la prioridad ... a
# 4"; before it after a set word ("set it to 4 priority"; not "2 Priority Mail labels"); and a
# form's line with the name over a line with the number alone. A number may be written "no. 4",
# "#4", "level 4", or "P4" for a priority. A number a unit follows ("2 days", "3 weeks", "a 2
# pack") is a quantity, not a field's value.
_SETS = "to|into|as|auf|zu|op|naar|para|sur|su"
_STATES = "is|ist|be|now|set|es|è|é"  # "is now 4", "should be 4", "set at 4", "es 4" (not "est": estimated)
_NEXT_TO = "at|of"  # right after the name only: "priority at 4", "a priority of 4"
_NUMBERED = r"(?:(?:level|no|number|nr|stufe|nivel|niveau)\W{1,3}|#\s?)?"
_IN_SENTENCE = r"[^\w.?!;\n]"  # what may stand between words without ending a sentence
_UNITS = (
    "minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?|times?|items?|pieces?|pcs|packs?|labels?"
    "|orders?|parcels?|packages?|boxes|box|bags?|units?|tickets?|emails?|calls?|people|am|pm|x"
    "|dias|semanas|meses|anos|horas|veces|giorni|settimane|mesi|anni|ore|volte|tage|wochen|monate"
    "|jahre|stunden|jours|semaines|mois|ans|heures|fois|dagen|weken|maanden|jaar|uur"
)


def _number_pattern(field: str, key: str) -> re.Pattern[str] | None:
    """Where outside text sets `field` to the number `key` (see the tables above)."""
    w = _IN_SENTENCE
    names = _FIELD_NAMES.get(field, (field,))

    def named(group: Any) -> str:  # from a word's start: a longer name ending in the field's
        alternatives = "|".join(re.escape(n) for n in group)
        return rf"(?<![^\W\d_])[^\W\d_]*(?:{alternatives})(?![^\W_])"

    spelled = _NUMBER_WORDS[int(key)] if int(key) < len(_NUMBER_WORDS) else []
    p = [f"p{key}"] if field == "priority" else []  # P1-P4, as trackers write priorities
    number = rf"(?:{_NUMBERED}(?:{'|'.join([re.escape(key), *spelled])}){'|' + p[0] if p else ''})(?![^\W_])"
    # away from the name, a unit right after it (a space or a hyphen between) makes a quantity;
    # a unit's word after a comma or a bracket starts another phrase ("is 1, tickets from ...")
    value = rf"{number}(?!(?:[^\S\n]|-)*+(?:{_UNITS})(?![^\W_]))"
    words = rf"{w}++(?:[^\W_]++{w}++){{0,6}}?"  # up to six words of the same sentence
    plain = [n for n in names if n not in _BEEN and n not in _ROMANCE]
    romance = [n for n in names if n in _ROMANCE and n not in _BEEN]
    been = [n for n in names if n in _BEEN]
    out: list[str] = []
    if plain or romance:
        name = named(plain + romance)
        # right after the name, a number is its value whatever word follows ("a priority 4
        # ticket"), not a unit joined to it ("priority 2-day shipping"); after a state word, a
        # form's range ("Priority (1-4): 4") or the value before ("2 -> 4"), as away from the name
        joined = rf"(?!-(?:{_UNITS})(?![^\W_]))"
        out.append(rf"{name}{w}{{0,4}}{number}{joined}")
        between = rf"(?:[^\S\n]*+\(\s*+\d{{1,3}}\s*+[-–]\s*+\d{{1,3}}\s*+\))?{w}{{0,4}}"
        was = rf"(?:\d{{1,3}}{w}{{0,4}}?(?:->|→|=>){w}{{0,4}})?"
        out.append(rf"{name}{between}(?:(?:{_STATES}|{_NEXT_TO}){w}{{1,3}}){{0,2}}{was}{value}")
        form = rf"(?<![^\n]){w}*+{name}[^\S\n]*+(?::[^\S\n]*+)?\n\s*+{number}[^\S\n]*+(?![^\n])"
        out.append(form)  # a form: the name on its line, the number alone on the next
        out.append(rf"(?<![^\W_])(?:{_SETS}){w}+{value}{w}+{name}")
    if plain:
        out.append(rf"{named(plain)}{words}(?:{_SETS}|{_STATES}){w}+(?:(?:be|now){w}+)?{value}")
    if romance or been:
        out.append(rf"{named(romance + been)}{words}(?:{_SETS}|a|est){w}+{value}")  # "la priorité est 4"
    if been:
        out.append(rf"{named(been)}{w}{{0,3}}[:=>]{w}{{0,3}}{value}")
    if p:
        out.append(rf"(?<![^\W_])(?:{_SETS}){w}+p{re.escape(key)}(?![^\W_])")
    return re.compile("|".join(out)) if out else None


def _dictated(field: str, key: str, texts: list[tuple[str, str]]) -> str | None:
    """Where outside text sets the field to the value itself ("priority,urgent", "set the
    priority of this ticket to urgent", "set it to urgent priority", "Priorität ... urgent",
    `{"ticketPriority": "urgent"}`): the field's name (in the detector's languages, or ending a
    longer name) and the value within twelve words after it or three before it. A classifier
    that echoes it has been told, not judged. A number so set was dictated, not chosen; it is
    tied to the name more tightly (`_number_pattern`), so that "Priority Mail on May 3", "I
    bought 2 Priority Mail labels" or "the status of my order ... for 4 days" sets nothing."""
    if key.isdigit():
        pattern = _number_pattern(field, key)
        if pattern is None:
            return None
    else:
        names = _FIELD_NAMES.get(field, (field,))
        name = rf"(?<![^\W\d_])[^\W\d_]*(?:{'|'.join(re.escape(n) for n in names)})(?![^\W_])"
        value = re.escape(key)
        pattern = re.compile(
            rf"{name}\W+(?:[^\W_]+\W+){{0,12}}?{value}(?![^\W_])|(?<![^\W_]){value}\W+(?:[^\W_]+\W+){{0,3}}?{name}"
        )
    for where, text in texts:
        for form in readable_forms(text):
            if pattern.search(_DIGITS.sub(lambda m: str(unicodedata.digit(m.group(), 0)), form)):
                return f"{where}: it sets the {field} to '{key}' itself"
    return None


_DIGITS = re.compile(r"\d")  # any script's decimal digit (\d is Unicode), read as 0-9
_PATH_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def _field_of(path: str) -> str | None:
    """The field an argument path sets (`priority`, `fields/status`, `custom_fields/cf_priority`,
    `ticketPriority`, `priority_level`, `cf_priority_level`), if a named one: a field the
    dictation check knows when it is a word of the path's name not followed by an id's word
    (`status_id`, `priority_ids` name records), else the path's last name."""
    last = next((p for p in reversed(path.split("/")) if not p.isdigit()), "")
    words = [w.lower() for w in _PATH_WORDS.findall(last)]
    for k in range(len(words) - 1, -1, -1):
        if words[k] in _FIELD_NAMES and not any(w in _ID_WORDS for w in words[k + 1 :]):
            return words[k]
    return last.lower() if len(last) >= 3 else None


_ID_WORDS = frozenset({"id", "ids", "uuid", "key", "ref"})


def _untrusted_hit(value: str, texts: list[tuple[str, str]]) -> str | None:
    """Where in outside text the value appears, with a little context, or None.

    Outside text is read as the detector reads it: normalized, with hidden (encoded) text
    decoded. A value counts as found when its words appear in a row; a value of several
    words (a tag like refund_approved) also when each of its words appears in the text."""
    words = _WORDS.findall(value.lower())
    if not words:
        return None
    written = _written_otherwise(value)
    # long free text counts as quoted when any 8 words in a row come from outside
    grams = (
        {" ".join(words[i : i + 8]) for i in range(len(words) - 7)} if len(words) > 8 else {" ".join(words)}
    )
    parts = {w for w in words if len(w) >= 3} if 1 < len(words) <= 4 else set()
    for where, text in texts:
        for form in readable_forms(text):
            flat, vocabulary = _flat(form)
            for g in grams:
                if f" {g} " in flat:
                    return f"{where}: '{_context(form, g)}'"
            if parts and parts <= vocabulary:
                return f"{where}: its words {', '.join(sorted(parts))} all appear in it"
            for how, word in written:
                if word in vocabulary:
                    return f"{where}: the value written in {how} ('{word}')"
    return None


def _written_otherwise(value: str) -> list[tuple[str, str]]:
    """The value as a short word in rot13, base64 and hex (lower-cased, as `_flat` keeps words):
    the readable forms decode such text only when it is long enough to look encoded, and a tag
    is three letters."""
    plain = value.strip()
    if not 3 <= len(plain) <= 64 or not plain.isascii():
        return []
    raw = plain.encode()
    out = [
        ("base64", base64.b64encode(raw).decode().rstrip("=").lower()),
        ("base64", base64.urlsafe_b64encode(raw).decode().rstrip("=").lower()),
        ("hex", raw.hex()),
    ]
    if plain.isalpha():
        out.append(("rot13", codecs.encode(plain, "rot13").lower()))
    return [(how, word) for how, word in out if _WORDS.fullmatch(word)]


@lru_cache(maxsize=1024)
def _flat(form: str) -> tuple[str, frozenset[str]]:
    """A text as its words joined by single spaces (padded), and the set of its words."""
    words = _WORDS.findall(form)
    return " " + " ".join(words) + " ", frozenset(words)


def _context(text: str, gram: str) -> str:
    first = gram.split(" ")[0]
    m = re.search(r"(?<![^\W_])" + re.escape(first), text, re.IGNORECASE)
    at = m.start() if m else 0
    snippet = " ".join(text[max(0, at - _CONTEXT) : at + len(gram) + _CONTEXT].split())
    return ("…" if at > _CONTEXT else "") + snippet + "…"


def outside_texts(facts: dict[str, Any]) -> list[tuple[str, str]]:
    item = [("the item", t) for t in facts.get("untrusted_text") or [] if t]
    reads = [("data read in this run", t) for t in facts.get("untrusted_reads") or [] if t]
    return item + reads


def trace(
    arguments: dict[str, Any],
    facts: dict[str, Any],
    *,
    approver: str | None = None,
    before: dict[str, Any] | None = None,
    before_provenance: dict[str, Any] | None = None,
    tool: str | None = None,
) -> dict[str, dict[str, Any]]:
    """{path: {"source", "value", "detail"}} for every scalar argument value of a write of `tool`
    (None: any tool's event values count).

    With `approver`, values that differ from `before` (the arguments as proposed or last
    edited) are the approver's; unchanged values keep their earlier provenance."""
    sent = _event_values(facts, tool)
    trusted = _trusted_values(facts)
    records = _record_values(facts)
    tags = {**_read_addresses(facts), **_record_tags(facts)}
    classified = _classified(facts)
    texts = outside_texts(facts)
    old = dict(leaves(before)) if before is not None else {}
    new = dict(leaves(arguments))
    moves: _Slots | None = None  # built at the first changed value inside a list, once
    shapes = _Shapes()
    out: dict[str, dict[str, Any]] = {}
    for path, value in new.items():
        if approver is not None and (path not in old or old[path] != value):
            if before_provenance and moves is None and shapes.of(path) != path:
                moves = _list_slots(old, before_provenance, shapes)
            if moves and (moved := _moved_in_list(path, value, moves, before_provenance, shapes)) is not None:
                out[path] = moved  # an item of a list that only moved (one before it was taken out)
                continue
            out[path] = {"source": "approver", "value": value, "detail": f"edited by {approver}"}
            continue
        if approver is not None and before_provenance and path in before_provenance:
            out[path] = before_provenance[path]
            continue
        if (expression := _sent(sent, path, value)) is not None:
            out[path] = {"source": "untrusted", "value": value, "detail": f"the event sent it ({expression})"}
            continue
        out[path] = _one(path, value, trusted, records, tags, classified, texts)
    return out


_Slots = dict[tuple[str, type, Any], list[str]]
_CAUTION = {"untrusted": 0, "model": 1}  # of several earlier places, the least trusted's provenance


class _Shapes(dict[str, str]):
    """A path's place with its list indexes left open (`lines/1/splits/0/account` ->
    `lines/*/splits/*/account`), each prefix worked out once: the work is that of writing the
    paths, however deep the lists."""

    def of(self, path: str) -> str:
        todo: list[str] = []
        while path and path not in self:
            path, _, last = path.rpartition("/")
            todo.append(last)
        shape = self.get(path, "")
        for last in reversed(todo):
            part = "*" if last.isdigit() else last
            shape = f"{shape}/{part}" if shape else part
            path = f"{path}/{last}" if path else last
            self[path] = shape
        return shape


def _list_slots(
    old: dict[str, Any], before_provenance: dict[str, Any] | None = None, shapes: _Shapes | None = None
) -> _Slots:
    """Each earlier leaf inside a list by where it sits with all its list indexes left open, its
    type and its value -> the path of the one whose provenance a value moved there keeps: the
    least trusted of them (one key and one path per place, each as long as its path)."""
    shapes = _Shapes() if shapes is None else shapes
    slots: _Slots = {}
    for path, value in old.items():
        if not isinstance(value, Hashable) or (
            before_provenance is not None and path not in before_provenance
        ):
            continue
        if (shape := shapes.of(path)) == path:
            continue  # in no list
        key = (shape, type(value), value)
        if (kept := slots.get(key)) is None:
            slots[key] = [path]
        elif before_provenance is not None and _caution(before_provenance[path]) < _caution(
            before_provenance[kept[0]]
        ):
            kept[0] = path
    return slots


def _caution(provenance: Any) -> int:
    return _CAUTION.get(str(provenance.get("source")), 2) if isinstance(provenance, dict) else 2


def _moved_in_list(
    path: str, value: Any, slots: _Slots, before_provenance: dict[str, Any] | None, shapes: _Shapes
) -> dict[str, Any] | None:
    """The earlier provenance of `value` when it sat, unchanged, at the same place of other items
    of the same lists before the edit (`add_tags/1` now `add_tags/0`, a journal line's account
    `lines/1/account` now `lines/0/account`, a split's `lines/1/splits/1/account` now
    `lines/0/splits/0/account`: at any list levels, any number of them at once): an approver who
    removes or reorders items chose none of the values that only moved. Where the value sat in
    several such places, the least trusted of their provenances."""
    if not before_provenance or not isinstance(value, Hashable):
        return None
    found = slots.get((shapes.of(path), type(value), value))
    return dict(before_provenance[found[0]]) if found else None


def _event_values(facts: dict[str, Any], tool: str | None) -> dict[str, list[tuple[Any, str]]]:
    """argument path -> (value, expression) a workflow's step of `tool` takes from its event as a
    number or boolean (`workflows.event_facts`): outside text, whatever its JSON type. A value of
    None stands for every number and boolean at or under the path."""
    out: dict[str, list[tuple[Any, str]]] = {}
    for item in facts.get("event_values") or []:
        if not isinstance(item, (list, tuple)) or len(item) not in (3, 4):
            continue
        step_tool = item[3] if len(item) == 4 else None
        if tool is None or step_tool is None or step_tool == tool:
            out.setdefault(str(item[0]), []).append((item[1], str(item[2])))
    return out


def _sent(sent: dict[str, list[tuple[Any, str]]], path: str, value: Any) -> str | None:
    """The expression through which the event sent this number or boolean, if it did."""
    if isinstance(value, str) or value is None:
        return None
    for given in (sent.get(path, ()), *(v for p, v in sent.items() if path.startswith(f"{p}/"))):
        for v, expression in given:
            if v is None or (type(v) is type(value) and v == value):
                return expression
    return None


def _one(
    path: str,
    value: Any,
    trusted: dict[str, str],
    records: dict[str, str],
    tags: dict[str, str],
    classified: dict[str, str],
    texts: list[tuple[str, str]],
) -> dict[str, Any]:
    key = _key(value) if value is not None and not isinstance(value, bool) else ""
    if key and key in trusted:
        return {"source": "fact", "value": value, "detail": trusted[key]}
    if key and key in classified:
        field = classified[key]
        if (told := _dictated(field, key, texts)) is not None:
            return {"source": "untrusted", "value": value, "detail": told}
        return {"source": "classifier", "value": value, "detail": f"the classifier's {field}"}
    if key and key in records and _names_a_record(path):
        return {"source": "fact", "value": value, "detail": records[key]}
    if isinstance(value, str) and (hit := _untrusted_hit(value, texts)) is not None:
        return {"source": "untrusted", "value": value, "detail": hit}
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and (named := _field_of(path)) and (told := _dictated(named, _key(value), texts)) is not None:
        return {"source": "untrusted", "value": value, "detail": told}  # "priority ... 4"
    if key and (key in records or key in tags):
        return {"source": "fact", "value": value, "detail": records.get(key) or tags[key]}
    return {"source": "model", "value": value, "detail": "chosen by the model"}


def shown(path: str) -> str:
    return path or "(value)"
