"""YAML documents read with their aliases bounded.

An alias (`*name`) is one shared object once loaded, but the importer walks every path through
it as a fresh schema: a 1 KB document whose anchors each alias the one before eight times (a
"billion laughs") stands for hundreds of millions of nodes and keeps the importer busy for
hours. So the composed node graph is measured first, each node once however often it is
aliased, and a document that expands far past what it writes is refused before it is built.
Real specs use a few anchors for repeated parts and stay well inside the bound.
"""

from __future__ import annotations

from typing import Any

import yaml

# Refused when the expanded node count passes both: a floor no harmless document nears with
# its aliases, and a multiple of the nodes the document actually writes.
EXPANDED_FLOOR = 200_000
EXPANDED_RATIO = 10


class AliasBomb(ValueError):
    """The document's aliases expand it past the bound, or one contains itself."""


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def expanded_size(root: yaml.Node) -> tuple[int, int]:
    """(nodes once every alias is expanded, distinct nodes written), without expanding any.
    AliasBomb if an alias contains the node it names (the document would be infinite)."""
    size: dict[int, int] = {}
    open_nodes: set[int] = set()  # started, not finished: the current node's ancestors
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in _children(node))
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise AliasBomb("an alias contains the node it refers to, so it never ends")
        open_nodes.add(key)
        stack.append((node, True))
        stack += [(c, False) for c in _children(node)]
    return size[id(root)], len(size)


def load(text: str) -> Any:
    """`yaml.safe_load`, refusing (AliasBomb) a document whose aliases expand it too far."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        expanded, written = expanded_size(node)
        limit = max(EXPANDED_FLOOR, EXPANDED_RATIO * written)
        if expanded > limit:
            raise AliasBomb(
                f"its YAML aliases expand {written:,} written nodes to {expanded:,} "
                f"(more than {limit:,}); write repeated parts as $refs instead"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()
