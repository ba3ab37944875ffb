"""Prompt-injection evals: a corpus of attacks run through the real pipelines (see README.md)."""
