"""What a bench section returns, and how the tables are printed and saved."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Options:
    """What every section may read: how long to run and which PostgreSQL to use."""

    quick: bool = False
    postgres_url: str | None = None
    workdir: Path = Path(".switchboard/bench")
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Options:
        url = args.postgres or os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
        return cls(quick=args.quick, postgres_url=url, workdir=Path(args.workdir))


@dataclass
class Section:
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"## {self.title}", "", "| " + " | ".join(self.columns) + " |"]
        lines.append("|" + "---|" * len(self.columns))
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in self.rows]
        lines += [""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def render(sections: list[Section]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for s in sections:
        table = Table(title=s.title, title_justify="left")
        for c in s.columns:
            table.add_column(c)
        for row in s.rows:
            table.add_row(*(str(c) for c in row))
        console.print(table)
        for n in s.notes:
            console.print(f"  [dim]{n}[/dim]")
