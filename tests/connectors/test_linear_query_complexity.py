"""Every query the Linear connector sends is within Linear's complexity limit for one query.

Linear scores a query before running it and refuses one over 10,000 points (linear.app/developers/
rate-limiting: a property 0.1 point, an object 1 point, a connection multiplies its children by
its `first` argument, or 50 when none is given). The simulator validates queries against the
schema but does not score them, so each query is scored here: a teams page with each team's
states nested inside stays far under the limit (`teams(first: 100)` with `states(first: 250)`
would ask for 25,000 states).
"""

from __future__ import annotations

import math

import pytest
from graphql import FieldNode, OperationDefinitionNode, SelectionSetNode, parse

from connectors.tracker import client

LIMIT = 10_000
DEFAULT_PAGE = 50


def _first(field: FieldNode) -> int | None:
    for arg in field.arguments or ():
        if arg.name.value in ("first", "last") and hasattr(arg.value, "value"):
            return int(arg.value.value)  # a literal; a variable is scored as the default
    return None


def _is_connection(field: FieldNode) -> bool:
    if field.selection_set is None:
        return False
    names = {s.name.value for s in field.selection_set.selections if isinstance(s, FieldNode)}
    return bool(names & {"nodes", "edges"})


def score(selection_set: SelectionSetNode) -> float:
    total = 0.0
    for sel in selection_set.selections:
        assert isinstance(sel, FieldNode)
        if sel.selection_set is None:
            total += 0.1
        elif _is_connection(sel):
            page = _first(sel) or DEFAULT_PAGE
            total += page * score(sel.selection_set)
        else:
            total += 1 + score(sel.selection_set)
    return total


def query_score(text: str) -> int:
    [op] = [d for d in parse(text).definitions if isinstance(d, OperationDefinitionNode)]
    return math.ceil(score(op.selection_set))


@pytest.mark.parametrize("name", ["LIST_TEAMS", "LIST_LABELS", "GET_ISSUE", "ISSUE_COMMENTS"])
def test_a_paged_query_is_within_linears_complexity_limit(name: str) -> None:
    points = query_score(getattr(client, name))
    assert points <= LIMIT, f"{name} scores about {points} points; Linear refuses a query over {LIMIT}"
