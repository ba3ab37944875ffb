"""triage/classify: categories, language, priority/sentiment, corrections, the reusable classifier."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from app.llm.base import ModelRequest
from app.llm.local import (
    Example,
    LocalModel,
    TextClassifier,
    heuristics,
    load_default_taxonomy,
    load_shipped_examples,
)

CLEAR = {
    "billing": (
        "Wrong amount on invoice",
        "Our latest invoice charges us for the Business plan but we pay for Pro.",
    ),
    "refund": ("Money back please", "The blender stopped working after two days, I want a refund."),
    "shipping": (
        "Parcel missing",
        "My package still hasn't been delivered and the tracking page shows no updates.",
    ),
    "account_access": ("Locked out", "I can't sign in, the password reset email never comes."),
    "technical_issue": ("Error when saving", "Every time I click export the app crashes with an error."),
    "feature_request": ("Suggestion", "It would be great if you added a dark mode to the mobile app."),
    "cancellation": ("Cancel", "Please cancel my subscription, I don't want it to renew."),
    "general_question": ("Question", "What are your support opening hours on weekends?"),
}


def _request(ticket: dict, **variables: object) -> ModelRequest:
    return ModelRequest(
        system="classify",
        messages=[],
        prompt="triage/classify@v1",
        variables={
            "ticket": ticket,
            "taxonomy": variables.pop("taxonomy", load_default_taxonomy()),
            **variables,
        },
        output_schema={"type": "object"},
    )


def test_shipped_data_is_found_and_covers_every_category() -> None:
    examples = load_shipped_examples()
    names = [t["name"] for t in load_default_taxonomy()]
    assert set(names) == set(CLEAR)
    for name in names:
        assert sum(e.category == name for e in examples) >= 25


@pytest.mark.parametrize("category", sorted(CLEAR))
async def test_clear_examples_are_classified(model: LocalModel, category: str) -> None:
    subject, body = CLEAR[category]
    response = await model.complete(_request({"subject": subject, "body": body, "requester_email": "a@b.co"}))
    out = response.output
    assert out is not None
    assert out["category"] == category, out["rationale"]
    assert set(out) == {
        "category",
        "priority",
        "sentiment",
        "language",
        "confidence",
        "rationale",
        "needs_review",
        "spam",
    }
    assert out["spam"] is False
    assert 0.0 <= out["confidence"] <= 1.0
    assert out["needs_review"] is (out["confidence"] < model.review_threshold)
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert response.model == "local" and response.stop_reason == "end_turn"


async def test_rationale_cites_the_words_that_decided(model: LocalModel) -> None:
    out = model.classify({"subject": "Refund", "body": "Please refund my order, it arrived broken."})
    assert out["category"] == "refund"
    assert "'refund'" in out["rationale"]


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Hello, I can't find the invoice for my last order, could you send it?", "en"),
        ("Hallo, ich habe mein Passwort vergessen und kann mich nicht mehr anmelden.", "de"),
        ("Bonjour, je n'ai toujours pas reçu mon colis, pouvez-vous vérifier ?", "fr"),
        ("Hola, quiero cancelar mi suscripción porque ya no la uso.", "es"),
        ("Goedemiddag, ik kan niet inloggen op mijn account, kunnen jullie helpen?", "nl"),
        ("Buongiorno, non ho ancora ricevuto il mio ordine, grazie.", "it"),
        ("Olá, não consigo acessar minha conta, obrigado.", "pt"),
    ],
)
def test_language_detection(text: str, language: str) -> None:
    assert heuristics.detect_language(text) == language


def test_language_defaults_to_english_when_unsure() -> None:
    assert heuristics.detect_language("12345 !!!") == "en"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Your service is down for everyone in our company.", "urgent"),
        ("If this is not fixed I will take legal action.", "urgent"),
        ("I was charged twice this month, please fix it urgently!", "urgent"),
        ("I was charged twice for my order.", "high"),
        ("I'm locked out of my account and have a deadline today.", "high"),
        ("Could you tell me where to find my invoice?", "normal"),
        ("Just wondering, would be nice to have a dark mode. No rush.", "low"),
    ],
)
def test_priority_heuristics(text: str, expected: str) -> None:
    assert heuristics.priority(text).label == expected


def test_calm_categories_default_to_low_priority() -> None:
    assert heuristics.priority("Do you have an office in Paris?", "general_question").label == "low"
    assert heuristics.priority("My invoice shows last year's address.", "billing").label == "normal"
    # A how-to question about billing, shipping or cancelling, with nothing broken, is calm too.
    assert heuristics.priority("Invoice\nWhere can I download my invoice?", "billing").label == "low"
    assert heuristics.priority("Password\nHow do I reset my password?", "account_access").label == "normal"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("This is unacceptable, I'm really frustrated with your terrible service.", "negative"),
        ("I'm fed up, still waiting for an answer after two weeks.", "negative"),
        ("Thank you so much, your team was amazing and very helpful!", "positive"),
        ("Where can I download my invoice? Thanks.", "neutral"),
        ("The update is not great, honestly.", "negative"),
        ("Ich bin wirklich enttäuscht von Ihrem Service.", "negative"),
    ],
)
def test_sentiment_heuristics(text: str, expected: str) -> None:
    assert heuristics.sentiment(text).label == expected


async def test_correction_changes_the_next_classification() -> None:
    model = LocalModel()
    ticket = {
        "subject": "Invoice question",
        "body": "Can you resend the invoice for order 4411 to my colleague?",
    }
    before = model.classify(ticket)
    assert before["category"] == "billing"
    # A person decides these belong to general_question; the correction arrives as request data.
    correction = {"text": "Invoice question\nCan you resend the invoice for order 4411 to my colleague?"}
    response = await model.complete(
        _request(ticket, examples=[{**correction, "category": "general_question"}])
    )
    assert response.output is not None
    assert response.output["category"] == "general_question"
    assert "correction" in response.output["rationale"]
    # A near-identical text follows the correction too.
    similar = {
        "subject": "Invoice question",
        "body": "Can you resend the invoice for order 4412 to my colleague please?",
    }
    assert model.classify(similar)["category"] == "general_question"
    # An unrelated billing text does not.
    assert (
        model.classify({"subject": "Charged twice", "body": "I was charged twice for my plan."})["category"]
        == "billing"
    )


def test_add_examples_is_cheap_and_newest_label_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    model = LocalModel()
    model.classify({"subject": "warm up", "body": "train the model"})
    text = "The dashboard shows my plan as expired"
    assert model.add_examples([Example(text, "billing")]) == 1
    assert model.add_examples([Example(text, "billing")]) == 0  # nothing new, no retrain

    # Retraining after corrections reuses the calibration: one fit, not six.
    def no_recalibration(*args: object) -> float:
        raise AssertionError("retraining must reuse the temperature")

    monkeypatch.setattr(TextClassifier, "_fit_temperature", no_recalibration)
    assert model.add_examples([(text, "account_access")]) == 1
    started = time.perf_counter()
    out = model.classify({"subject": "", "body": text})
    assert time.perf_counter() - started < 5.0  # ~0.1 s on an idle 2-core machine; generous for CI
    assert out["category"] == "account_access"
    assert model.corrections == [Example(text, "account_access")]


def test_classifications_at_once_wait_for_one_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that starts with tickets queued classifies several at once on its threads: they
    share one fit of the classifier instead of each fitting the same one (a second of CPU each)."""
    fits = []
    fit = TextClassifier.fit

    def counted(self: TextClassifier, *args: Any, **kwargs: Any) -> TextClassifier:
        fits.append(1)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(TextClassifier, "fit", counted)
    model = LocalModel()
    tickets = [{"subject": "Charged twice", "body": f"I was billed twice for order {n}."} for n in range(6)]
    with ThreadPoolExecutor(6) as pool:
        out = list(pool.map(model.classify, tickets))
    assert len(fits) == 1
    assert {o["category"] for o in out} == {"billing"}


async def test_warm_fits_what_the_first_ticket_then_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    """`warm` with triage's taxonomy and the stored corrections leaves nothing to fit for the
    first ticket's classification (a worker warms before it claims)."""
    from app.services.triage import DEFAULT_TAXONOMY

    model = LocalModel()
    corrections = [{"text": "Please resend the invoice to my colleague", "category": "general_question"}]
    model.warm(DEFAULT_TAXONOMY, corrections)

    def refit(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the first classification fitted again")

    monkeypatch.setattr(TextClassifier, "fit", refit)
    ticket = {"subject": "Invoice", "body": "Please resend the invoice to my colleague"}
    response = await model.complete(_request(ticket, examples=corrections, taxonomy=DEFAULT_TAXONOMY))
    assert response.output is not None and response.output["category"] == "general_question"


def test_low_confidence_needs_review() -> None:
    model = LocalModel(review_threshold=0.99)
    out = model.classify({"subject": "Hmm", "body": "Something about my stuff."})
    assert out["needs_review"] is True
    assert LocalModel(review_threshold=0.0).classify({"subject": "Hmm", "body": "x"})["needs_review"] is False


def test_custom_taxonomy_is_respected(model: LocalModel) -> None:
    taxonomy = [
        {"name": "billing", "description": "Invoices and charges."},
        {
            "name": "partnerships",
            "description": "Reseller, affiliate and partnership proposals from other companies.",
        },
    ]
    out = model.classify(
        {"subject": "Partnership", "body": "We'd like to propose a reseller partnership."}, taxonomy
    )
    assert out["category"] == "partnerships"
    out = model.classify({"subject": "Invoice", "body": "My invoice shows the wrong VAT amount."}, taxonomy)
    assert out["category"] == "billing"


def test_text_classifier_api() -> None:
    texts = [
        "refund my money",
        "give me a refund",
        "money back please",
        "where is my parcel",
        "parcel not delivered",
        "track my package",
    ]
    labels = ["refund", "refund", "refund", "shipping", "shipping", "shipping"]
    clf = TextClassifier().fit(texts, labels)
    label, confidence, terms = clf.predict_top("I want a refund")
    assert label == "refund" and 0.5 < confidence <= 1.0 and "refund" in terms
    proba = clf.predict_proba(["my parcel is late", "refund"])
    assert proba.shape == (2, 2) and abs(proba.sum(axis=1) - 1).max() < 1e-9
    assert clf.predict(["my parcel is late"]) == ["shipping"]
    # An anchored (corrected) example overrides near-identical texts.
    clf = TextClassifier().fit(
        [*texts, "refund my parcel"], [*labels, "shipping"], anchors=[False] * 6 + [True]
    )
    explanation = clf.explain("refund my parcel!")
    assert explanation.label == "shipping" and explanation.anchor == "refund my parcel"


def test_text_classifier_rejects_unknown_backend() -> None:
    with pytest.raises(ValueError, match="unknown feature backend"):
        TextClassifier(features="nope").fit(["a", "b"], ["x", "y"])


async def test_spam_is_flagged_and_a_customer_mentioning_a_link_is_not(model: LocalModel) -> None:
    pitch = {
        "subject": "Boost your SEO ranking",
        "body": "Guaranteed first page on Google. Reply now, limited time!",
    }
    customer = {
        "subject": "Broken link",
        "body": "The link below in your email gives an error: please fix it.",
    }
    assert (await model.complete(_request({**pitch, "requester_email": "x@y.co"}))).output["spam"] is True  # type: ignore[index]
    assert (await model.complete(_request({**customer, "requester_email": "x@y.co"}))).output["spam"] is False  # type: ignore[index]


async def test_a_containers_worker_warms_for_triage_and_its_stored_corrections(
    db_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker `Container.worker()` builds warms the local model with what triage will ask it:
    triage's taxonomy and the corrections people stored, so its first ticket fits nothing."""
    from app.store.tables import Correction
    from tests.support.app import full_container

    c, _ = full_container(db_url, tmp_path, LocalModel())
    text = "Please resend the invoice to my colleague"
    with c.db.session() as s:
        s.add(Correction(kind="ticket", text=text, field="category", value="general_question", by="pat"))
    prepare = c.worker().prepare
    assert prepare is not None
    await prepare()

    def refit(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the first ticket's classification fitted again")

    monkeypatch.setattr(TextClassifier, "fit", refit)
    out = c.model.classify({"subject": "", "body": text}, c.taxonomy, c.corrections())  # type: ignore[attr-defined]
    assert out["category"] == "general_question"
    await c.pool.aclose()
