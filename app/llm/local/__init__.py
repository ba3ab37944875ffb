"""The offline local engine: triage and simple chat without a key or a network.

See engine.py for how prompts are dispatched; classifier.py holds the
reusable TextClassifier (also used by the evals).
"""

from app.llm.local.classifier import EmbeddingFeatures, TextClassifier, TfidfFeatures
from app.llm.local.engine import Example, LocalModel, load_default_taxonomy, load_shipped_examples

__all__ = [
    "EmbeddingFeatures",
    "Example",
    "LocalModel",
    "TextClassifier",
    "TfidfFeatures",
    "load_default_taxonomy",
    "load_shipped_examples",
]
