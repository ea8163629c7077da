"""The FastAPI application: `create_app()` builds it from `Settings` (see settings.py).

Routes: `/healthz` (liveness), `/readyz` (the enabled database and cache answer), `/metrics`
(only with METRICS_ENABLED=true), `/items` (items.py), and `/docs` in development only.
Run it with `python -m app` (JSON logs, graceful shutdown); uvicorn's `--factory` flag also works:
`uvicorn --factory app.main:create_app`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from app import DESCRIPTION, TITLE, db, items
from app.cache import Cache, make_client
from app.metrics import Metrics, MetricsMiddleware
from app.settings import Settings

log = logging.getLogger("app")


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

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness: 200 whenever the process serves requests."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        """Readiness: 200 when each enabled dependency answers, else 503 naming the failing."""
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
        if failing:
            return JSONResponse(
                {"status": "unavailable", "failing": failing, "checks": checks},
                status_code=503,
            )
        return JSONResponse({"status": "ready", "checks": checks})

    app.include_router(items.router)
    return app
