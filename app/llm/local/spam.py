"""Is a ticket unsolicited advertising or a scam, not a customer's request?

Two kinds of evidence, both needed unless one is overwhelming: the pitch (an offer,
a prize, a guarantee of results) and the hook (a link to click, a messenger to
write to, urgency, money for nothing). A customer who mentions a link or an
offer once is not spam; a pitch with a hook is.
"""

from __future__ import annotations

import re

_PITCH = re.compile(
    r"\b(seo|first page on google|rank(ing)? (on|in) google|followers|likes|backlinks|you (have )?won|"
    r"winner|congratulations|claim your|prize|gift card worth|guarantee[ds]?|special offer|exclusive offer|"
    r"best price|cheap|investment opportunity|marketing services|web ?design services)\b",
    re.I,
)
_HOOK = re.compile(
    r"\b(click (the|this) link|link below|reply now|act now|limited time|contact us on whatsapp|whatsapp|"
    r"telegram|instant delivery|enter your details|bank details|wire transfer|100% free|risk[- ]free|"
    r"\d+ days? guaranteed|today only)\b",
    re.I,
)


def is_spam(text: str) -> bool:
    pitch = len(set(m.group(0).lower() for m in _PITCH.finditer(text)))
    hook = len(set(m.group(0).lower() for m in _HOOK.finditer(text)))
    return (pitch >= 1 and hook >= 1) or pitch >= 3
