"""The machine the figures were taken on: its speed at the few things every section pays for.

Latency and throughput targets are absolute (milliseconds, tickets a second), but the same
code is several times slower on a slower or busier machine. These rows let two bench
reports be compared: Python's own speed, a durable SQLite commit (the fsync every step pays)
and a hand-off to a thread and back (every store call of a worker), with the load the
machine already had when the bench began.
"""

from __future__ import annotations

import asyncio
import os
import platform
import sqlite3
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.report import Options, Section

REPEATS = 5


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def python_ms() -> float:
    """A fixed piece of plain Python (loops, dicts, strings, calls), in milliseconds of CPU."""

    def work() -> int:
        d: dict[str, int] = {}
        for i in range(200_000):
            key = f"k{i % 997}"
            d[key] = d.get(key, 0) + len(key)
        return sum(d.values())

    return _best(work)


def _best(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.process_time()
        fn()
        times.append((time.process_time() - started) * 1000)
    return min(times)


def durable_commit_us(workdir: Path, commits: int = 300) -> tuple[float, float]:
    """One small durable SQLite commit (WAL, synchronous=FULL, as the store commits): CPU and wall in µs."""
    path = workdir / "machine.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, data TEXT)")
        payload = "x" * 2000
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(commits):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (data) VALUES (?)", (payload,))
            conn.execute("COMMIT")
        return (time.process_time() - cpu) * 1e6 / commits, (time.perf_counter() - wall) * 1e6 / commits
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def thread_hop_us(hops: int = 2000) -> float:
    """An awaited call on a thread pool and back to the event loop, in µs of CPU."""

    async def hop() -> float:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(2) as pool:
            for _ in range(100):
                await loop.run_in_executor(pool, int)
            started = time.process_time()
            for _ in range(hops):
                await loop.run_in_executor(pool, int)
            return (time.process_time() - started) * 1e6 / hops

    return statistics.median(asyncio.run(hop()) for _ in range(3))


def run(options: Options) -> Section:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cpu_us, wall_us = durable_commit_us(options.workdir)
    return Section(
        title="The machine",
        columns=["what", "figure"],
        rows=[
            ["CPU", f"{_cpu_model()} × {os.cpu_count()}"],
            ["Python", platform.python_version()],
            ["load average when the bench began (1 min)", f"{load:.2f}"],
            ["plain Python work (fixed; lower is faster)", f"{python_ms():.0f} ms"],
            ["durable SQLite commit (WAL, synchronous=FULL)", f"{cpu_us:.0f} µs CPU, {wall_us:.0f} µs wall"],
            ["thread-pool hop from the event loop and back", f"{thread_hop_us():.0f} µs CPU"],
        ],
        notes=[
            "compare reports taken on different machines by these rows first: the other sections' "
            "latencies and throughputs scale with them, their ratios (Switchboard ÷ LangGraph, "
            "fraction of the ideal) much less",
        ],
    )
