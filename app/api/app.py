"""The FastAPI application: routes, error shapes, limits, metrics, the in-process worker."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.api import metrics
from app.api.edge import Edge
from app.api.ratelimit import RateLimiter
from app.api.reads import Reads
from app.api.routes import router
from app.api.workflow_routes import router as workflow_router
from app.main import Container
from app.services import alerts, schedules
from app.services.errors import ServiceError
from app.web.routes import install as install_web


def _field(loc: Any) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


async def _stopped(task: asyncio.Task[None], grace: float) -> None:
    """Wait up to `grace` seconds for a stopping worker to drain, then cancel it (leases lapse)."""
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asyncio.wait_for(task, grace)


# `switchboard serve --workers N`: the settings every server process builds its app from.
SERVE_SETTINGS = "SWITCHBOARD_SERVE_SETTINGS"
SERVE_WORKER = "SWITCHBOARD_SERVE_WORKER"


def from_environment() -> FastAPI:
    """The app of one of several server processes: the parent's resolved settings, from the
    environment it set, so every process serves the same database with the same key."""
    from app.config import Settings
    from app.main import Container
    from app.observability.logs import configure_logging

    settings = Settings.model_validate_json(os.environ[SERVE_SETTINGS])
    configure_logging(settings.log_format, settings.log_level)
    return create_app(Container(settings), run_worker=bool(os.environ.get(SERVE_WORKER)))


def create_app(
    container: Container,
    *,
    simulators: dict[str, Any] | None = None,
    run_worker: bool = False,
    on_ready: Callable[[Container], Coroutine[Any, Any, None]] | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks = []
        working: asyncio.Task[None] | None = None
        if run_worker:
            working = asyncio.create_task(container.worker().run(stop))
            tasks.append(
                asyncio.create_task(
                    schedules.loop(
                        container.db,
                        stop,
                        every=container.settings.schedule_seconds,
                        on_started=container.wake,
                    )
                )
            )
        if (watch := alerts.watcher(container.settings, container.db, container.pool)) is not None:
            tasks.append(asyncio.create_task(watch.loop(stop, container.settings.alert_every_seconds)))
        if on_ready is not None:
            tasks.append(asyncio.create_task(on_ready(container)))
        try:
            yield
        finally:
            stop.set()
            if working is not None:  # let the runs in flight reach a stopping point first
                await _stopped(working, container.settings.lease_seconds)
            for t in tasks:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            await container.pool.aclose()

    app = FastAPI(title="Switchboard", version="0.1.0", lifespan=lifespan)
    app.state.container = container
    app.state.reads = Reads(container.settings.api_read_threads)
    limiter = RateLimiter(
        rate=container.settings.rate_limit_per_second, burst=container.settings.rate_limit_burst
    )

    @app.exception_handler(ServiceError)
    async def service_error(_: Request, exc: ServiceError) -> JSONResponse:
        body: dict[str, Any] = {"error": exc.message}
        if exc.field:
            body["field"] = exc.field
        return JSONResponse(body, exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse({"error": "body is not valid JSON"}, 400)
        problems = [f"{_field(e.get('loc', ()))}: {e.get('msg')}" for e in errors]
        return JSONResponse(
            {"error": "; ".join(problems), "fields": [_field(e.get("loc", ())) for e in errors]}, 422
        )

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    def prometheus(request: Request) -> PlainTextResponse:
        metrics.check_scraper(container.settings.metrics_token, request.headers.get("authorization"))
        metrics.refresh(container.db)
        return PlainTextResponse(generate_latest(metrics.REGISTRY).decode(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)
    app.include_router(workflow_router)
    install_web(app)  # the web UI: /ui pages, /static assets, GET / → /ui/
    app.add_middleware(
        Edge, container=container, limiter=limiter, reads=app.state.reads
    )  # outermost: runs before all else
    for name, sim in (simulators or {}).items():
        app.mount(f"/sim/{name}", sim)
    return app
