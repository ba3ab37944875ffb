"""`python -m bench [--quick] [--only NAME,...] [--postgres URL] [--out FILE]`: every section, one table each.

A section is a module in this folder with `run(options) -> Section` (or a list of them),
named in SECTIONS. A section that cannot run here (no PostgreSQL, no bench extra) says
why in its notes instead of failing the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from bench.report import Options, Section, render

SECTIONS: list[str] = ["machine", "cost", "throughput", "tokens", "api", "observability"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer tickets and shorter runs")
    parser.add_argument("--only", default="", help="comma-separated section names: " + ", ".join(SECTIONS))
    parser.add_argument(
        "--postgres", default=None, help="PostgreSQL URL (else BENCH_DATABASE_URL / TEST_DATABASE_URL)"
    )
    parser.add_argument("--workdir", default=".switchboard/bench")
    parser.add_argument("--out", default=None, help="also write the tables as Markdown to this file")
    args = parser.parse_args(argv)
    options = Options.from_args(args)
    options.workdir.mkdir(parents=True, exist_ok=True)
    wanted = [s for s in args.only.split(",") if s] or SECTIONS
    unknown = sorted(set(wanted) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    sections: list[Section] = []
    for name in wanted:
        started = time.monotonic()
        module = importlib.import_module(f"bench.{name}")
        result = module.run(options)
        found = result if isinstance(result, list) else [result]
        for s in found:
            s.notes.append(f"section {name!r} took {time.monotonic() - started:.0f} s")
        sections += found
        render(found)
    if args.out:
        Path(args.out).write_text("# Benchmarks\n\n" + "\n".join(s.markdown() for s in sections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
