"""The admin service's ASGI app: `create_app(settings)` wires the routes to their resources."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import make_asgi_app

from admin import (
    backfill_api,
    companies,
    connection_api,
    contacts_api,
    crm,
    history_api,
    import_settings_api,
    log_api,
    mappings_api,
    pages,
    projects_api,
    request_workflow,
    requests,
    resync_api,
    triggers_api,
)
from admin.errors import install_error_handlers
from admin.resources import Resources
from admin.settings import AdminSettings
from pipeline_common.aurora import AuroraClient, RateLimiter
from pipeline_common.broker import make_broker
from pipeline_common.database import create_pool
from pipeline_common.health import run_checks
from pipeline_common.logs import get_logger
from pipeline_common.secrets import TokenCipher, WebhookSigner

log = get_logger("admin")

DESCRIPTION = """
The company-facing API of the Aurora Solar integration and the CRM resources it needs.

* **Operators** create companies with `Authorization: Bearer <OPERATOR_TOKEN>`; the company's API key is
  returned once.
* **Companies** call everything else with `Authorization: Bearer <company API key>` and only ever see their
  own data: another company's ids answer 404.
* Errors are `{"error": {"code": "...", "message": "...", "field": "..."}}` with a stable `code`; a 422 also
  lists every bad field in `errors`.
* Every `POST` that makes a CRM record (contacts, projects, requests, workflows, custom properties) honours
  `Idempotency-Key`: a retry with
  the same key and body answers what the first call answered (`Idempotent-Replayed: true`) and makes nothing
  twice; the same key with another body is refused (422 `idempotency_key_reused`).

The steps of the user guide map onto the routes under `/v1/integrations/aurora`: connect (`POST`), review
(`GET`), triggers, workflow, standard and custom mappings, matching strategy, integration log, re-sync,
backfill and disconnect (`DELETE`). Company admins get the same steps as a settings page at `/`.

The CRM's own records: contacts, projects made in the CRM (an Aurora import at the same address with the same
customer email or last name matches them) and requests, the pre-sale opportunities, in the company's request
workflow (`GET /v1/request-workflows`).
"""


def create_app(settings: AdminSettings | None = None) -> FastAPI:
    settings = settings or AdminSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(settings.database)
        # The admin's interactive calls get the share the fetcher leaves them (AURORA_ADMIN_REQUESTS_PER_MINUTE).
        aurora = AuroraClient(
            settings.aurora,
            limiter=RateLimiter(
                settings.aurora.admin_budget_per_minute, window_seconds=settings.aurora.rate_limit_window_seconds
            ),
        )
        broker = make_broker(settings.kafka, client_id="admin")
        try:
            await broker.connect()
            res = Resources(
                settings=settings,
                pool=pool,
                aurora=aurora,
                broker=broker,
                cipher=TokenCipher.from_settings(settings.crypto),
                signer=WebhookSigner.from_settings(settings.crypto),
            )
            app.state.resources = res
            yield
        finally:
            await broker.stop()
            await aurora.aclose()
            await pool.close()

    app = FastAPI(
        title="Aurora integration admin API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    install_error_handlers(app)

    @app.middleware("http")
    async def access_log(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # Method, path and status only: bodies and headers carry tokens and keys.
        started = time.perf_counter()
        response = await call_next(request)
        log.info(
            "request",
            method=request.method,
            path=request.url.path,
            status=response.status_code,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return response

    @app.get(
        "/health/live",
        tags=["health"],
        summary="Liveness: the process serves requests",
        responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
    )
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/health/ready",
        tags=["health"],
        summary="Readiness: PostgreSQL and Kafka reachable",
        responses={
            200: {
                "content": {
                    "application/json": {"example": {"status": "ok", "checks": {"database": "ok", "kafka": "ok"}}}
                }
            },
            503: {
                "description": "a dependency is unreachable",
                "content": {
                    "application/json": {
                        "example": {"status": "unavailable", "checks": {"database": "ok", "kafka": "error: kafka"}}
                    }
                },
            },
        },
    )
    async def ready(request: Request) -> Response:
        res = request.app.state.resources

        async def database() -> None:
            await res.pool.fetchval("SELECT 1")

        async def kafka() -> None:
            if not await res.broker.ping(timeout=2.0):
                raise ConnectionError("kafka")

        results = await run_checks({"database": database, "kafka": kafka})
        ok = all(v == "ok" for v in results.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": results}, status_code=200 if ok else 503
        )

    app.mount("/metrics", make_asgi_app())

    app.include_router(companies.router)
    app.include_router(crm.router)
    app.include_router(contacts_api.router)
    app.include_router(projects_api.router)
    app.include_router(history_api.router)
    app.include_router(request_workflow.router)
    app.include_router(requests.router)
    app.include_router(connection_api.router)
    app.include_router(triggers_api.router)
    app.include_router(import_settings_api.router)
    app.include_router(mappings_api.router)
    app.include_router(log_api.router)
    app.include_router(resync_api.router)
    app.include_router(backfill_api.router)
    pages.install(app)
    return app
