"""The import graph, read from the code: layers point one way and nothing lower imports anything higher.

api/web/cli → services → agent → llm/tools → connectors (see "How it is built" in the README).
Every `import` in app/, tools/, connectors/ and evals/ counts, including those inside functions
and under TYPE_CHECKING: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("app", "connectors", "tools", "evals")

# Layer of a module: the longest matching prefix wins. Higher numbers sit higher.
LAYERS: dict[str, int] = {
    "connectors": 0,
    "tools": 1,
    "app.llm": 1,
    "app.agent": 2,
    "app.observability": 1,  # run ids in context, spans, counters, log format: below the run loop
    "app.observability.instrument": 3,  # wraps a built orchestrator's model, tools and pipelines
    "app.store": 2,  # implements the agent's RunStore; services use it, entry points do not
    "app.services": 3,
    "app.api": 4,
    "app.web": 4,
    "app.mcp_server": 4,
    "app.main": 4,  # the composition root: picks concrete classes; entry points build it
    "app.api.app": 5,  # the one ASGI application: mounts the API and the web UI
    "app.api.edge": 5,  # its middleware (sign-in redirects, limits) for both
    "app.cli.where": 5,  # where the data lives, read by the CLI and written by the demo
    "app.cli.listen": 5,  # whether a server can listen where told: the demo, serve and mcp ask it
    "app.demo": 5,  # the demo: the application, the simulators and seeded data in one process
    "evals": 5,  # evaluations drive the product from outside, against the simulators
    "app.cli": 6,  # every command, `switchboard demo` and `switchboard eval` among them
    "app.__main__": 6,
}
# Plain data and helpers every layer may use.
SHARED = ("app.config", "app.text", "app")
ENTRY_POINTS = ("app.api", "app.web", "app.cli", "app.mcp_server")
# The demo world: simulators, their seeds and data. Only the demo and the evaluations mount it.
DEMO = (
    "connectors.simulators",
    "connectors.simulator_base",
    "connectors.simulator_webhooks",
    "connectors.demo_books",
    "connectors.payments.balance",
    "connectors.mcp.demo_server",
    "connectors.openapi.petstore_simulator",
)
MOUNTS_THE_DEMO = ("app.demo", "evals")


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_demo(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return last in ("simulator", "seed") or _under(module, DEMO)


def _under(module: str, prefixes: str | tuple[str, ...]) -> bool:
    if isinstance(prefixes, str):
        prefixes = (prefixes,)
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _layer(module: str) -> tuple[str, int] | None:
    best = max((p for p in LAYERS if _under(module, p)), key=len, default=None)
    return None if best is None else (best, LAYERS[best])


def _targets(node: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (a.name for a in node.names)
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - node.level + 1]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        yield prefix
        # `from app.services import approvals` imports the module app.services.approvals
        yield from (f"{prefix}.{a.name}" for a in node.names if a.name != "*")


@cache
def _known() -> frozenset[str]:
    return frozenset(_module(p) for pkg in PRODUCT for p in (ROOT / pkg).rglob("*.py"))


@cache
def graph() -> dict[str, frozenset[str]]:
    """Each product module and the product modules it imports."""
    known = _known()
    edges: dict[str, frozenset[str]] = {}
    for pkg in PRODUCT:
        for path in (ROOT / pkg).rglob("*.py"):
            module = _module(path)
            tree = ast.parse(path.read_text(encoding="utf-8"))
            found = set()
            for node in ast.walk(tree):
                for target in _targets(node, module, path.name == "__init__.py"):
                    if target.split(".")[0] == "tests" or target in known:
                        found.add(target)
            edges[module] = frozenset(found - {module})
    return edges


def _imports(prefixes: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    for module, targets in graph().items():
        if _under(module, prefixes):
            for target in targets:
                yield module, target


def test_the_graph_is_read() -> None:
    edges = graph()
    assert "app.services.approvals" in edges["app.api.routes"]
    assert "app.agent.ports" in edges["app.store.runs"]
    assert len(edges) > 150


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in graph() if _layer(m) is None and m not in SHARED]
    assert not unplaced, f"place these modules in a layer in {__name__}.LAYERS: {unplaced}"


def test_imports_point_down() -> None:
    upward = []
    for module, target in _imports(PRODUCT):
        if target in SHARED or (module in SHARED and _under(target, "app.config")):
            continue
        src, dst = _layer(module), _layer(target)
        if src and dst and dst[1] > src[1]:
            upward.append(f"{module} ({src[0]}) imports {target} ({dst[0]})")
        elif module in SHARED and target not in SHARED:
            upward.append(f"{module} (shared) imports {target}")
    assert not upward, "imports must point down the layers:\n" + "\n".join(sorted(upward))


def test_no_cycle_between_packages() -> None:
    """Between layer packages (app.services, app.agent, tools, ...), imports form no cycle."""
    edges: dict[str, set[str]] = {}
    for module, target in _imports(PRODUCT):
        src, dst = _layer(module), _layer(target)
        if src and dst and src[0] != dst[0]:
            edges.setdefault(src[0], set()).add(dst[0])
    cycles = []
    for start in edges:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in edges.get(node, ()):
                if nxt == start:
                    cycles.append(" → ".join([*path, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert not cycles, "cycles between packages:\n" + "\n".join(sorted(cycles))


def test_entry_points_never_touch_the_store() -> None:
    touching = [f"{m} imports {t}" for m, t in _imports(ENTRY_POINTS) if _under(t, "app.store")]
    assert not touching, "entry points call services, never app.store:\n" + "\n".join(sorted(touching))


def test_the_product_never_imports_tests_or_the_demo_world() -> None:
    bad = [
        f"{m} imports {t}"
        for m, t in _imports(PRODUCT)
        if t.split(".")[0] == "tests" or (_is_demo(t) and not _is_demo(m) and not _under(m, MOUNTS_THE_DEMO))
    ]
    assert not bad, "the product imports test code or a simulator:\n" + "\n".join(sorted(bad))
