"""Indexing the earlier arguments for moved list items is linear in their size.

Each earlier leaf inside a list is indexed once, by its path with every list index left open
(each prefix worked out once) and its value: a model-proposed write of thousands of strings
hundreds of lists deep is re-traced after an approver's edit in proportion to its size, and an
edit that changes no value inside a list builds no index at all. Measured here as the characters
of the index, not as time.
"""

from __future__ import annotations

import json

from app.agent.provenance import _list_slots, leaves


def test_the_index_of_deeply_nested_lists_stays_in_proportion_to_the_arguments() -> None:
    value: object = [f"a{i}" for i in range(600)]
    for _ in range(60):
        value = [value]
    before = {"note": "x", "rows": value}
    size = len(json.dumps(before))  # 4,833 characters
    slots = _list_slots(dict(leaves(before)))
    built = sum(len(key[0]) for key in slots) + sum(len(p) for paths in slots.values() for p in paths)
    assert built <= 50 * size, (built, size)
