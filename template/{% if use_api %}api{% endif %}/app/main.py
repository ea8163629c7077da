"""The FastAPI application: `create_app()` builds it from `Settings` (see settings.py).

Routes: `/healthz` (liveness), `/readyz` (readiness: the database answers; a cache outage is
reported as "degraded"), `/metrics` (only with METRICS_ENABLED=true), `/items` (items.py), and
`/docs` in development only. While the database is unreachable every route that needs it answers
503 with a JSON `detail` (never a 500 with a stack trace), and the api recovers by itself when
the database is back: no restart needed.
Run it with `python -m app` (JSON logs, graceful shutdown); uvicorn's `--factory` flag also works:
`uvicorn --factory app.main:create_app`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from app import DESCRIPTION, TITLE, db, items
from app.cache import Cache, make_client
from app.metrics import Metrics, MetricsMiddleware
from app.settings import Settings

log = logging.getLogger("app")

# A client that got 503 because the database was unreachable may try again after this long.
RETRY_AFTER_SECONDS = 5


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    cache: Cache | None = None,
) -> FastAPI:
    """Build the app. `engine` and `cache` replace the ones the settings describe (tests)."""
    settings = settings or Settings.from_env()
    if engine is None and settings.database is not None:
        engine = db.make_engine(settings.database)  # connects lazily, on first use
    if cache is None and settings.cache is not None:
        cache = Cache(make_client(settings.cache))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info(
            "api starting",
            extra={
                "app_env": settings.app_env,
                "database": engine is not None,
                "cache": cache is not None,
                "metrics": settings.metrics_enabled,
            },
        )
        try:
            yield
        finally:
            # uvicorn gets here on SIGTERM/SIGINT once in-flight requests are done
            if cache is not None:
                cache.close()
            if engine is not None:
                engine.dispose()
            log.info("api stopped")

    development = settings.app_env == "development"
    app = FastAPI(
        title=TITLE,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs" if development else None,
        redoc_url=None,
        openapi_url="/openapi.json" if development else None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.cache = cache

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Authorization"],
        )
    if settings.metrics_enabled:
        metrics = Metrics()
        app.add_middleware(MetricsMiddleware, metrics=metrics)
        app.add_api_route("/metrics", metrics.endpoint, methods=["GET"], include_in_schema=False)

    @app.exception_handler(SQLAlchemyError)
    async def database_unavailable(request: Request, error: SQLAlchemyError) -> JSONResponse:
        """503 + Retry-After when the database cannot serve (db.unavailable); anything else is a
        bug and goes on to the default 500 handler, which logs the traceback."""
        if not db.unavailable(error):
            raise error
        cause = error.orig if getattr(error, "orig", None) is not None else error
        log.warning(
            "database unavailable",
            extra={
                "method": request.method,
                "path": request.url.path,
                "error": f"{type(cause).__name__}: {cause}".strip(),
            },
        )
        return JSONResponse(
            {"detail": "The database is unavailable; try again shortly."},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: 200 whenever the process serves requests. Async on purpose: it answers on
        the event loop even when every worker thread waits on a slow database, so a database
        outage never makes the orchestrator restart a healthy process."""
        return {"status": "ok"}

    # The database is required: without it no item route works, so the api is not ready (503)
    # and a load balancer should route elsewhere. The cache is optional: without it reads go to
    # the database (slower, still correct), so its outage is reported as "degraded" with 200.
    # Every replica shares the one cache: answering 503 for it would take them all out of the
    # load balancer at once and turn a slowdown into a full outage.
    required = {"database"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        """Readiness: 503 naming the failing checks when the database does not answer; 200 with
        status "degraded" when only the cache fails; 200 "ready" when everything answers."""
        probes = {
            "database": (lambda: db.ping(engine)) if engine is not None else None,
            "cache": cache.ping if cache is not None else None,
        }
        checks: dict[str, str] = {}
        for name, probe in probes.items():
            if probe is None:
                checks[name] = "disabled"
                continue
            try:
                probe()
            except Exception as exc:  # any failure means "not ready"; the log has the details
                log.warning("readiness check failed", extra={"check": name, "error": repr(exc)})
                checks[name] = f"failed: {type(exc).__name__}"
            else:
                checks[name] = "ok"
        failing = [name for name, result in checks.items() if result.startswith("failed")]
        if not failing:
            return JSONResponse({"status": "ready", "checks": checks})
        if required & set(failing):
            return JSONResponse(
                {"status": "unavailable", "failing": failing, "checks": checks},
                status_code=503,
            )
        return JSONResponse({"status": "degraded", "failing": failing, "checks": checks})

    app.include_router(items.router)
    return app
