"""`python -m connectors.openapi.sizes SPEC [--config JSON] [--full]`: what each tool costs.

Imports an OpenAPI document as a connection would (with its config: tags, include and
exclude patterns, schema_depth, max_tool_tokens) and prints every tool's definition size
in tokens, largest first, with the totals. `--full` shows the document fully inlined.
"""

from __future__ import annotations

import argparse
import json
import sys

import httpx

from connectors.openapi.connector import OpenAPIConnector
from connectors.openapi.importer import FULL_SCHEMAS, SchemaOptions, import_spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connectors.openapi.sizes", description=__doc__)
    parser.add_argument("spec", help="file path, URL or bundled name")
    parser.add_argument("--config", default="{}", help="the connection's config as JSON")
    parser.add_argument("--full", action="store_true", help="inline every $ref, drop nothing")
    parser.add_argument("--top", type=int, default=10, help="rows to show (0: all)")
    args = parser.parse_args(argv)
    config = json.loads(args.config)
    options = FULL_SCHEMAS if args.full else SchemaOptions.from_config(config)
    spec = import_spec(args.spec, options=options)
    connector = OpenAPIConnector(
        httpx.AsyncClient(base_url="http://unused.invalid"), {**config, "spec": spec}
    )
    sizes = connector.tool_sizes()
    rows = sizes if args.top == 0 else sizes[: args.top]
    for row in rows:
        print(
            f"{row['tokens']:>8}  depth {row['inline_depth']!s:>4}  {row['name']}  ({row['method']} {row['path']})"
        )
    total = sum(r["tokens"] for r in sizes)
    largest = sizes[0]["tokens"] if sizes else 0
    print(
        f"{len(sizes)} tools of {len(spec.operations)} operations; largest {largest} tokens; total {total} tokens"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
