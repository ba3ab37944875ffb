"""A model wrapper for evals: answers from a response cache keyed by the request, paced within a rate.

A re-run of an eval costs nothing: every response is stored (SQLite) under the
hash of the model's name and the request, with the latency the call really
took, so figures from a cached run read the same as from the first. Simulator
data carries times relative to start-up and fresh ids, so those are masked in
the key: the same question over the same data hits the cache on another day.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from app.llm.base import Model, ModelRequest, ModelResponse

_VOLATILE = [
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"), "<time>"),
    (re.compile(r"\b1[6-9]\d{8}\b"), "<epoch>"),
    (re.compile(r"\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b"), "<uuid>"),
    (re.compile(r"\bcall_\d+\b"), "<call>"),
]


def request_key(model: str, request: ModelRequest) -> str:
    """sha256 of the model name and the request, with times and generated ids masked."""
    text = json.dumps(
        {"model": model, "request": request.model_dump(mode="json")}, sort_keys=True, default=str
    )
    for pattern, mask in _VOLATILE:
        text = pattern.sub(mask, text)
    return hashlib.sha256(text.encode()).hexdigest()


def source_fingerprint(*folders: Path) -> str:
    """sha256 over the files under `folders` (names and bytes), in a stable order."""
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class CallRecord:
    prompt: str
    cached: bool
    latency_ms: float
    input_tokens: int
    output_tokens: int


@dataclass
class CachedModel:
    """Wraps `inner`; `rate` (calls a second, None: unpaced) applies to calls that miss the cache."""

    inner: Model
    path: Path
    rate: float | None = None
    # Part of every key: a fingerprint of the code behind the model (see `source_fingerprint`),
    # so changing the local engine never replays answers of its earlier self.
    version: str = ""
    calls: list[CallRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _pace: asyncio.Lock | None = field(default=None, init=False, repr=False)
    _next_at: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT, prompt TEXT, "
            "response TEXT NOT NULL, latency_ms REAL NOT NULL, created REAL NOT NULL)"
        )
        self._db.commit()

    @property
    def name(self) -> str:
        return self.inner.name

    def _get(self, key: str) -> tuple[ModelResponse, float] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT response, latency_ms FROM responses WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return ModelResponse.model_validate_json(row[0]), float(row[1])

    def _put(self, key: str, prompt: str, response: ModelResponse, latency_ms: float) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?)",
                (key, self.inner.name, prompt, response.model_dump_json(), latency_ms, time.time()),
            )
            self._db.commit()

    async def _wait_turn(self) -> None:
        if not self.rate:
            return
        if self._pace is None:
            self._pace = asyncio.Lock()
        async with self._pace:
            now = time.monotonic()
            if self._next_at > now:
                await asyncio.sleep(self._next_at - now)
            self._next_at = max(now, self._next_at) + 1.0 / self.rate

    async def complete(self, request: ModelRequest) -> ModelResponse:
        key = request_key(f"{self.inner.name}@{self.version}", request)
        prompt = (request.prompt or "").split("@", 1)[0]
        hit = self._get(key)
        if hit is not None:
            response, latency = hit
            cached = True
        else:
            await self._wait_turn()
            started = time.perf_counter()
            response = await self.inner.complete(request)
            latency = (time.perf_counter() - started) * 1000
            self._put(key, prompt, response, latency)
            cached = False
        self.calls.append(
            CallRecord(prompt, cached, latency, response.usage.input_tokens, response.usage.output_tokens)
        )
        return response

    def close(self) -> None:
        with self._lock:
            self._db.close()
