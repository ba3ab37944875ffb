"""Transparent rules for language, priority and sentiment.

These are rules on purpose: a support lead can read why a ticket became
"urgent" (the signals are returned with the verdict), and a rule never drifts
with the training data the way a learned model would. The word lists are
small and multilingual where it matters (en/de/fr/es, plus stopwords for
nl/it/pt so the language guess covers them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


def wordset(text: str) -> frozenset[str]:
    """A frozenset from a whitespace-separated word list (keeps the lists readable)."""
    return frozenset(text.split())


_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)

# Frequent function words per language. Short, distinctive lists beat long ones:
# words shared across languages ("a", "de", "en") are left out or appear once.
STOPWORDS: dict[str, frozenset[str]] = {
    "en": wordset(
        "the and is are was were to of in it that this for you your my with have has "
        "not be on at but can i me we our they what when how please would could should "
        "there their from an or if do does did been will just about any all no yes thanks"
    ),
    "de": wordset(
        "der die das und ist nicht ich sie es ein eine einen mit für auf den dem des "
        "zu wir ihr mein meine meinen bitte kann können wurde wird sind war haben habe "
        "hat auch noch aber oder wie was wenn schon seit mir mich uns dass vielen dank"
    ),
    "fr": wordset(
        "le la les et est je vous nous il elle ne pas un une des du au aux pour avec "
        "mon ma mes votre vos sur dans ce cette qui que quoi mais ou est-ce merci "
        "bonjour depuis toujours suis ai avez peux pouvez été très"
    ),
    "es": wordset(
        "el la los las y es que no un una por para con mi mis su sus del al lo le "
        "pero como qué cuando gracias hola estoy tengo puedo pueden fue está este esta "
        "muy ya también hace desde"
    ),
    "nl": wordset(
        "de het een en is niet ik je jij u wij we zijn was met voor op van dat dit "
        "maar ook nog mijn uw kan kunnen wordt heb hebben bedankt graag alstublieft"
    ),
    "it": wordset(
        "il lo la gli le e è non un una per con mio mia suo sua che di da del della "
        "ma come sono ho hai abbiamo grazie ciao buongiorno questo questa anche ancora"
    ),
    "pt": wordset(
        "o a os as e é não um uma para com meu minha seu sua que do da dos das no na "
        "mas como sou tenho foi está obrigado obrigada olá bom dia também ainda"
    ),
}
ALL_STOPWORDS: frozenset[str] = frozenset().union(*STOPWORDS.values())

# Letters that only (or mostly) one of the languages uses: a tie-breaker for short texts.
_LETTER_HINTS = {"de": "äöüß", "fr": "çèêëœàâî", "es": "ñ¿¡", "pt": "ãõ"}


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters only, apostrophes kept inside words)."""
    return [w.lower() for w in _WORD.findall(text or "")]


def detect_language(text: str, default: str = "en") -> str:
    """ISO 639-1 guess by counting each language's stopwords; `default` when nothing matches.

    Good enough to pick a reply template; not a general-purpose language identifier.
    """
    tokens = words(text)
    scores: dict[str, float] = {
        lang: float(sum(1 for t in tokens if t in sw)) for lang, sw in STOPWORDS.items()
    }
    lowered = (text or "").lower()
    for lang, letters in _LETTER_HINTS.items():
        scores[lang] += 0.5 * sum(lowered.count(ch) for ch in letters)
    best = max(scores, key=lambda lang: (scores[lang], lang == default))
    return best if scores[best] > 0 else default


# --- priority -----------------------------------------------------------------

# (pattern, weight, label). Weight >= 4 makes a ticket urgent on its own.
_PRIORITY_SIGNALS: list[tuple[str, int, str]] = [
    (
        r"\b(outage|down for (everyone|all)|(site|service|system|production|everything) (is )?down)\b",
        4,
        "outage",
    ),
    (r"\bnothing (loads|works)\b|\b(whole|entire) (team|company)\b", 2, "wide impact"),
    (r"\b(lawyer|attorney|legal action|sue you|lawsuit|court|anwalt|avocat|abogado)\b", 4, "legal threat"),
    (
        r"\b(data (loss|breach)|security breach|hacked|compromised|unauthori[sz]ed (access|login))\b",
        4,
        "security",
    ),
    (r"\bsomeone else (may have |has )?(accessed|logged)", 3, "security"),
    (
        r"\b(urgent(ly)?|asap|emergency|immediately|right now|dringend|sofort|urgente|de inmediato)\b",
        3,
        "urgency word",
    ),
    (
        r"\b(charged|billed|debited) (twice|two times|double)|\bdouble[- ]charged|doppelt belastet",
        3,
        "charged twice",
    ),
    (r"\b(cobraron dos veces|débité deux fois)", 3, "charged twice"),
    (r"\bchargeback\b|\bdispute\b", 2, "chargeback"),
    (r"\b(locked out|can'?t (log ?in|sign in|access)|cannot (log ?in|sign in|access))\b", 2, "no access"),
    (
        r"\b(lost|stolen|new) (my )?phone\b|\b(authenticator|two-factor|2fa)\b.{0,60}\b(gone|wiped|lost|stolen)\b",
        2,
        "second factor lost",
    ),
    (r"\baccount (is |was )?locked\b", 2, "locked"),
    (r"\b(cracked|damaged|arrived broken|shattered)\b", 2, "damaged item"),
    (r"\bcrash(es|ed|ing)?\b|\berror \d{3}\b|\bblank screen\b", 2, "crash"),
    (r"\b(deadline|today|tonight|by tomorrow)\b", 1, "deadline"),
    (
        r"\b(still|again|third time|second time|weeks?)\b.*\b(waiting|no (reply|answer|response)|nothing)\b",
        1,
        "waiting",
    ),
    (r"\b(crash(es|ed|ing)?|error|broken|not working|doesn'?t work|failed|fails)\b", 1, "malfunction"),
]
_LOW_SIGNALS = re.compile(
    r"\b(no rush|whenever|just (curious|wondering)|would be (nice|great)|it would be great|suggestion|"
    r"idea:|feature request|nice to have|wish)\b",
    re.IGNORECASE,
)
# "How do I ...?" about something that is not broken: useful, not pressing.
_HOW_TO = re.compile(
    r"^\W*(hi|hello|hey|dear \w+|good \w+)?\W*(how (do|can|long|many)|where (can|do|is)|can i|could you|"
    r"do you (offer|sell|have)|is there|what are|please tell me how|wie|où|comment|cómo|dónde|por favor)\b",
    re.IGNORECASE,
)
_HOW_TO_CATEGORIES = frozenset({"billing", "shipping", "cancellation"})
# Categories that are rarely time-critical unless a signal says otherwise.
_CALM_CATEGORIES = frozenset({"feature_request", "general_question"})


@dataclass
class Verdict:
    """A label plus the signals that produced it (quoted in the rationale)."""

    label: str
    signals: list[str] = field(default_factory=list)


def _shouting(text: str) -> bool:
    caps = re.findall(r"\b[A-Z]{3,}\b", text)
    return len(caps) >= 2 or "!!" in text


def priority(text: str, category: str | None = None) -> Verdict:
    """low | normal | high | urgent from weighted urgency signals."""
    score = 0
    signals: list[str] = []
    strongest = 0
    for pattern, weight, label in _PRIORITY_SIGNALS:
        if re.search(pattern, text, re.IGNORECASE):
            score += weight
            strongest = max(strongest, weight)
            if label not in signals:
                signals.append(label)
    if _shouting(text):
        score += 1
        signals.append("exclamation/caps")
    if strongest >= 4 or score >= 5:
        return Verdict("urgent", signals)
    if score >= 3:
        return Verdict("high", signals)
    body = text.split("\n", 1)[-1]
    if score == 0 and category in _HOW_TO_CATEGORIES and _HOW_TO.search(body):
        return Verdict("low", ["no urgency signals", "how-to question"])
    if score == 0 and (_LOW_SIGNALS.search(text) or category in _CALM_CATEGORIES):
        return Verdict(
            "low", ["no urgency signals", *(["casual request"] if _LOW_SIGNALS.search(text) else [])]
        )
    if score >= 2:
        return Verdict("high", signals)
    return Verdict("normal", signals)


# --- sentiment ----------------------------------------------------------------

_NEGATIVE = wordset(
    """angry annoyed annoying awful bad broken disappointed disappointing disgusted frustrated
    frustrating furious horrible terrible unacceptable useless worst ridiculous scam waste
    hate poor rude ignored unhappy upset fed joke nightmare incompetent pathetic disaster
    enttäuscht ärgerlich schlecht unverschämt inakzeptabel katastrophe furchtbar
    déçu inacceptable nul horrible scandaleux mécontent
    decepcionado inaceptable terrible pésimo horrible molesto"""
)
_POSITIVE = wordset(
    """thanks thank great love awesome excellent amazing appreciate appreciated happy helpful
    wonderful fantastic perfect pleased glad brilliant kudos nice enjoy
    danke super toll prima wunderbar ausgezeichnet
    merci génial parfait excellent formidable
    gracias genial perfecto excelente encanta"""
)
_NEGATIONS = wordset("not no never don't doesn't isn't wasn't nicht kein keine pas jamais nunca")
_NEGATIVE_PHRASES = re.compile(
    r"\b(fed up|sick of|still waiting|third time|no one (has )?(replied|answered|responded)|"
    r"waste of (time|money)|want my money back|not happy|losing (money|customers|business|sales)|"
    r"lawyer|attorney|legal action|lawsuit)\b",
    re.IGNORECASE,
)


def sentiment(text: str) -> Verdict:
    """negative | neutral | positive from small lexicons, one-word negation and shouting."""
    tokens = words(text)
    pos = neg = 0
    found: list[str] = []
    for i, tok in enumerate(tokens):
        negated = i > 0 and tokens[i - 1] in _NEGATIONS
        if tok in _NEGATIVE:
            neg, pos = (neg, pos + 1) if negated else (neg + 1, pos)
            found.append(tok)
        elif tok in _POSITIVE:
            pos, neg = (pos, neg + 1) if negated else (pos + 1, neg)
            found.append(("not " if negated else "") + tok)
    for m in _NEGATIVE_PHRASES.finditer(text):
        neg += 2
        found.append(m.group(0).lower())
    if _shouting(text) and neg:
        neg += 1
        found.append("exclamation/caps")
    # Polite closings ("thanks") are weak evidence next to a complaint.
    if neg and pos and neg >= pos:
        return Verdict("negative", found)
    if neg > pos:
        return Verdict("negative", found)
    if pos > neg and pos >= 1 and (pos >= 2 or not re.search(r"\bthanks?\b|\bthank you\b", text, re.I)):
        return Verdict("positive", found)
    return Verdict("neutral", found)
