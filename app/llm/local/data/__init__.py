"""Shipped labelled examples and the default taxonomy (a package so the files install with it)."""
