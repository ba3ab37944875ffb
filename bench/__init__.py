"""Benchmarks: `make bench` prints one table per section (see bench/__main__.py)."""
