"""Reply drafts from per-category, per-language Jinja2 templates, grounded in one article.

Why templates: the local engine cannot write free text safely, and a support
reply is mostly a known shape (greeting, acknowledgement, the answer, where to
read more, sign-off). The only facts come from the best knowledge-base
article; nothing from the ticket body is quoted, because ticket text is
untrusted data and may carry instructions aimed at the model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from jinja2 import DictLoader, Environment, StrictUndefined, TemplateNotFound

from app.llm.local.heuristics import detect_language
from app.llm.local.retrieval import best_sentences, rank_articles
from app.llm.names import clean_name

LANGUAGES = ("en", "de", "fr", "es")

_BASE = """{% if name %}{{ t.greet_named }} {{ name }},{% else %}{{ t.greet }},{% endif %}

{% block opening %}{{ t.opening }}{% endblock %}
{%- if urgent %} {{ t.urgent }}{% endif %}

{% if grounded -%}
{{ t.lead_in }} "{{ title }}":

{% for s in snippet %}{{ s }}
{% endfor %}
{{ t.read_more }} {{ url }}

{{ t.reply_if }}
{%- else -%}
{{ t.follow_up }}
{%- endif %}

{{ t.closing }}
{{ t.signature }}
"""

# Shared phrases per language.
PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "greet_named": "Hi",
        "greet": "Hello",
        "opening": "Thank you for contacting us.",
        "urgent": "We have marked your request as urgent.",
        "lead_in": "This is covered in our help article",
        "read_more": "You can read the full article here:",
        "reply_if": "If this does not solve it, just reply to this message and we will take it from there.",
        "follow_up": "A member of our team will look into this personally and follow up with you shortly.",
        "closing": "Best regards,",
        "signature": "The Support Team",
    },
    "de": {
        "greet_named": "Hallo",
        "greet": "Guten Tag",
        "opening": "vielen Dank für Ihre Nachricht.",
        "urgent": "Wir haben Ihre Anfrage als dringend markiert.",
        "lead_in": "Dazu gibt es einen Hilfeartikel",
        "read_more": "Den vollständigen Artikel finden Sie hier:",
        "reply_if": "Falls das Ihr Anliegen nicht löst, antworten Sie einfach auf diese Nachricht.",
        "follow_up": "Eine Kollegin oder ein Kollege aus unserem Team kümmert sich persönlich darum und meldet sich in Kürze bei Ihnen.",
        "closing": "Mit freundlichen Grüßen",
        "signature": "Ihr Support-Team",
    },
    "fr": {
        "greet_named": "Bonjour",
        "greet": "Bonjour",
        "opening": "Merci de nous avoir contactés.",
        "urgent": "Nous avons marqué votre demande comme urgente.",
        "lead_in": "Ce point est traité dans notre article d'aide",
        "read_more": "Vous pouvez lire l'article complet ici :",
        "reply_if": "Si cela ne résout pas le problème, répondez simplement à ce message.",
        "follow_up": "Un membre de notre équipe va examiner votre demande personnellement et reviendra vers vous rapidement.",
        "closing": "Cordialement,",
        "signature": "L'équipe support",
    },
    "es": {
        "greet_named": "Hola",
        "greet": "Hola",
        "opening": "Gracias por contactarnos.",
        "urgent": "Hemos marcado su solicitud como urgente.",
        "lead_in": "Esto se explica en nuestro artículo de ayuda",
        "read_more": "Puede leer el artículo completo aquí:",
        "reply_if": "Si esto no lo resuelve, simplemente responda a este mensaje.",
        "follow_up": "Una persona de nuestro equipo revisará su caso personalmente y le responderá en breve.",
        "closing": "Saludos cordiales,",
        "signature": "El equipo de soporte",
    },
}

# The per-category acknowledgement: what makes each category's template its own.
OPENINGS: dict[str, dict[str, str]] = {
    "en": {
        "billing": "Thank you for reaching out about your billing. We're sorry for any confusion with your charges.",
        "refund": "Thank you for getting in touch about a refund. We understand how important this is.",
        "shipping": "Thank you for contacting us about your delivery. We're sorry it hasn't gone smoothly.",
        "account_access": "We're sorry you're having trouble getting into your account.",
        "technical_issue": "Thank you for reporting this problem, and sorry for the disruption.",
        "feature_request": "Thank you for the suggestion: ideas like this help us decide what to build next.",
        "cancellation": "Thank you for letting us know. We're sorry to see you go.",
        "general_question": "Thank you for your question.",
    },
    "de": {
        "billing": "vielen Dank für Ihre Nachricht zu Ihrer Abrechnung. Entschuldigen Sie bitte die Unklarheiten.",
        "refund": "vielen Dank für Ihre Anfrage zur Rückerstattung.",
        "shipping": "vielen Dank für Ihre Nachricht zu Ihrer Lieferung. Es tut uns leid, dass es nicht reibungslos lief.",
        "account_access": "es tut uns leid, dass Sie Probleme beim Zugriff auf Ihr Konto haben.",
        "technical_issue": "vielen Dank für Ihre Meldung, und entschuldigen Sie die Unannehmlichkeiten.",
        "feature_request": "vielen Dank für Ihren Vorschlag: solche Ideen helfen uns bei der Planung.",
        "cancellation": "vielen Dank für Ihre Nachricht. Schade, dass Sie gehen möchten.",
        "general_question": "vielen Dank für Ihre Frage.",
    },
    "fr": {
        "billing": "Merci de nous avoir contactés au sujet de votre facturation. Nous sommes désolés pour ce désagrément.",
        "refund": "Merci de nous avoir contactés au sujet d'un remboursement.",
        "shipping": "Merci de nous avoir contactés au sujet de votre livraison. Nous sommes désolés pour ce contretemps.",
        "account_access": "Nous sommes désolés que vous ayez des difficultés à accéder à votre compte.",
        "technical_issue": "Merci de nous avoir signalé ce problème, et désolés pour la gêne occasionnée.",
        "feature_request": "Merci pour votre suggestion : ce type d'idée nous aide à décider quoi développer.",
        "cancellation": "Merci de nous avoir prévenus. Nous sommes tristes de vous voir partir.",
        "general_question": "Merci pour votre question.",
    },
    "es": {
        "billing": "Gracias por escribirnos sobre su facturación. Lamentamos cualquier confusión con sus cargos.",
        "refund": "Gracias por contactarnos sobre un reembolso.",
        "shipping": "Gracias por contactarnos sobre su envío. Lamentamos que no haya ido bien.",
        "account_access": "Lamentamos que tenga problemas para acceder a su cuenta.",
        "technical_issue": "Gracias por informarnos de este problema, y disculpe las molestias.",
        "feature_request": "Gracias por su sugerencia: estas ideas nos ayudan a decidir qué construir.",
        "cancellation": "Gracias por avisarnos. Lamentamos que se vaya.",
        "general_question": "Gracias por su pregunta.",
    },
}


def _templates() -> dict[str, str]:
    """One base template per language, one child template per (language, category)."""
    out: dict[str, str] = {}
    for lang in LANGUAGES:
        out[f"{lang}/base"] = _BASE
        for category, opening in OPENINGS[lang].items():
            # Openings are our own text, never user input, so inlining them is safe.
            out[f"{lang}/{category}"] = (
                f'{{% extends "{lang}/base" %}}{{% block opening %}}{opening}{{% endblock %}}'
            )
    return out


_env = Environment(
    loader=DictLoader(_templates()),
    undefined=StrictUndefined,
    autoescape=False,  # plain-text email bodies, not HTML
    keep_trailing_newline=False,
)

# Where a sentence of outside text would point the reader: links, images, addresses, domains.
_POINTER = re.compile(
    r"(?:https?:)?//\S+|www\.\S+|<img\b|!\[|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|\b(?:[a-z0-9-]+\.)+(?:com|net|org|io|co|info|biz|example|test|app|dev|xyz|me|ly|[a-z]{2})\b",
    re.IGNORECASE,
)


def _no_pointers(sentences: list[str]) -> list[str]:
    """Article sentences that send the reader nowhere: the reply links only the article itself."""
    return [s for s in sentences if not _POINTER.search(s)]


def render_reply(
    *,
    language: str,
    category: str,
    name: str = "",
    article: Mapping[str, Any] | None = None,
    snippet: list[str] | None = None,
    urgent: bool = False,
) -> str:
    """Render the reply text; a missing language or category falls back to English / generic."""
    lang = language if language in PHRASES else "en"
    try:
        template = _env.get_template(f"{lang}/{category}")
    except TemplateNotFound:
        template = _env.get_template(f"{lang}/base")
    grounded = article is not None and bool(snippet)
    text = template.render(
        t=PHRASES[lang],
        name=clean_name(name),
        urgent=urgent,
        grounded=grounded,
        title=str(article.get("title", "")) if article else "",
        url=_article_url(article) if article else "",
        snippet=snippet or [],
    )
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _article_url(article: Mapping[str, Any]) -> str:
    return str(article.get("html_url") or article.get("url") or "")


def draft_reply(
    ticket: Mapping[str, Any],
    classification: Mapping[str, Any],
    articles: list[Mapping[str, Any]],
    customer: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The `triage/draft` output: {"body", "sources", "grounded"}.

    The ticket's subject and body are used only to rank articles and pick
    sentences; they are never copied into the reply.
    """
    query = f"{ticket.get('subject') or ''}\n{ticket.get('body') or ''}"
    language = str(classification.get("language") or detect_language(query))
    category = str(classification.get("category") or "general_question")
    ranked = rank_articles(query, articles)
    best = ranked[0] if ranked and ranked[0].relevant else None
    snippet = _no_pointers(best_sentences(query, str(best.article.get("body") or ""), n=2)) if best else []
    name = (customer or {}).get("name") or ticket.get("requester_name") or ""
    body = render_reply(
        language=language,
        category=category,
        name=name,
        article=best.article if best else None,
        snippet=snippet,
        urgent=classification.get("priority") == "urgent",
    )
    grounded = best is not None and bool(snippet)
    sources = (
        [
            {
                "id": best.article.get("id"),
                "title": best.article.get("title"),
                "url": _article_url(best.article),
            }
        ]
        if grounded and best
        else []
    )
    return {"body": body, "sources": sources, "grounded": grounded}


def compose_reply(
    ticket: Mapping[str, Any],
    classification: Mapping[str, Any],
    articles: list[Mapping[str, Any]],
    customer: Mapping[str, Any] | None = None,
    account: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The `triage/draft` output from whole article passages and the facts the run read.

    Like `draft_reply`, but the article is quoted as whole passages (a list is never cut
    in the middle), the ranking reads non-English tickets through a small glossary, and
    what the payment system said about the requester's orders, refunds and disputes is
    stated after the opening. The ticket's text is never copied into the reply.
    """
    from app.llm.local.replies import account_facts, best_passages, with_gloss

    query = f"{ticket.get('subject') or ''}\n{ticket.get('body') or ''}"
    language = str(classification.get("language") or detect_language(query))
    category = str(classification.get("category") or "general_question")
    # Three shared words, not two: a shop's articles all speak of orders and accounts.
    ranked = rank_articles(with_gloss(query), articles, min_evidence=3)
    best = ranked[0] if ranked and ranked[0].relevant else None
    passages = best_passages(query, str(best.article.get("body") or "")) if best else []
    name = (customer or {}).get("name") or ticket.get("requester_name") or ""
    body = render_reply(
        language=language,
        category=category,
        name=name,
        article=best.article if best else None,
        snippet=[p + "\n" for p in passages],
        urgent=classification.get("priority") == "urgent",
    )
    facts = account_facts(query, account)
    if facts:
        greeting, _, rest = body.partition("\n\n")
        opening, _, rest = rest.partition("\n\n")
        body = "\n\n".join(part for part in (greeting, opening, " ".join(facts), rest) if part)
    grounded = best is not None and bool(passages)
    sources = (
        [
            {
                "id": best.article.get("id"),
                "title": best.article.get("title"),
                "url": _article_url(best.article),
            }
        ]
        if grounded and best
        else []
    )
    return {"body": body, "sources": sources, "grounded": grounded or bool(facts)}
