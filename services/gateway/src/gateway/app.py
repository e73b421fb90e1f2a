"""The webhook ingress: Aurora's GET becomes a `WebhookReceived` on Kafka.

The 2xx is sent only after Kafka acknowledged the message (acks=all), so a webhook we answered is never
lost; if Kafka is down we answer 503 and Aurora retries on its schedule.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import orjson
from fastapi import FastAPI, Header, Request
from fastapi.responses import Response
from prometheus_client import make_asgi_app

from gateway.integrations import IntegrationDirectory
from gateway.settings import GatewaySettings
from pipeline_common import topics, webhooks
from pipeline_common.broker import make_broker, publish_event
from pipeline_common.database import create_pool
from pipeline_common.events import WebhookReceived, utcnow
from pipeline_common.health import run_checks
from pipeline_common.logs import get_logger
from pipeline_common.metrics import WEBHOOKS
from pipeline_common.secrets import WebhookSigner
from pipeline_common.settings import CryptoSettings, DatabaseSettings, KafkaSettings

log = get_logger(__name__)
SOURCE = "/gateway"


class JSONBody(Response):
    """orjson-encoded JSON: the ingress path is the hottest in the system."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _error(status: int, code: str, message: str) -> JSONBody:
    WEBHOOKS.labels(code).inc()
    return JSONBody({"error": {"code": code, "message": message}}, status_code=status)


def create_app(
    settings: GatewaySettings | None = None,
    kafka: KafkaSettings | None = None,
    database: DatabaseSettings | None = None,
    crypto: CryptoSettings | None = None,
) -> FastAPI:
    settings = settings or GatewaySettings()
    kafka = kafka or KafkaSettings()
    database = database or DatabaseSettings()
    signer = WebhookSigner.from_settings(crypto or CryptoSettings())
    broker = make_broker(kafka, client_id="gateway")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await broker.start()
        pool = None
        try:
            pool = await create_pool(database)
        except OSError as exc:
            # The database only retires old secret generations; webhooks still verify by HMAC without it.
            log.warning("database_unavailable_at_start", error=str(exc))
        directory = IntegrationDirectory(pool, settings.integration_refresh_seconds)
        directory.start()
        app.state.directory = directory
        app.state.pool = pool
        try:
            yield
        finally:
            await directory.stop()
            if pool is not None:
                await pool.close()
            await broker.stop()

    app = FastAPI(
        title="Aurora webhook gateway",
        version="1",
        description="Receives Aurora Solar webhooks (HTTP GET with ids in the query string), authenticates "
        "them with the integration's secret header and publishes them to Kafka topic "
        f"`{topics.WEBHOOK_RECEIVED}`. A 2xx means Kafka acknowledged the event.",
        lifespan=lifespan,
    )
    app.mount("/metrics", make_asgi_app())

    @app.get(
        "/webhooks/aurora/{integration_id}",
        summary="Receive one Aurora webhook",
        responses={
            200: {
                "description": "Accepted and acknowledged by Kafka",
                "content": {"application/json": {"example": {"status": "accepted", "event_id": "…"}}},
            },
            400: {"description": "Malformed webhook (unknown parameter, bad id, oversized value)"},
            401: {"description": "Missing or wrong webhook secret"},
            503: {"description": "Kafka unavailable; Aurora will retry"},
        },
    )
    async def receive(
        integration_id: str,
        request: Request,
        secret: Annotated[str | None, Header(alias=webhooks.SECRET_HEADER)] = None,
    ) -> JSONBody:
        started = time.perf_counter()
        try:
            integration_uuid = uuid.UUID(integration_id)
        except ValueError:
            return _error(400, "invalid_integration_id", "the webhook URL does not name an integration")
        integration_id = str(integration_uuid)
        parsed = webhooks.parse_secret_header(secret) if secret else None
        if parsed is None:
            return _error(401, "missing_secret", f"the {webhooks.SECRET_HEADER} header is missing or malformed")
        generation, presented = parsed
        directory: IntegrationDirectory = request.app.state.directory
        if not (signer.verify(integration_id, generation, presented) and directory.accepts(integration_id, generation)):
            return _error(401, "invalid_secret", "the webhook secret does not match this integration")

        raw_query = request.url.query
        if len(raw_query) > settings.max_query_bytes:
            return _error(400, "query_too_large", f"the query string exceeds {settings.max_query_bytes} bytes")
        params: dict[str, str] = {}
        value: str | None
        for name, value in request.query_params.multi_items():
            if name not in webhooks.KNOWN_PARAMS:
                return _error(400, "unknown_parameter", f"unknown query parameter {name!r}")
            if name in params:
                return _error(400, "repeated_parameter", f"query parameter {name!r} is repeated")
            if len(value) > settings.max_param_chars:
                return _error(400, "parameter_too_long", f"query parameter {name!r} is too long")
            params[name] = value
        event = params.get("event", "").strip()
        if not event:
            return _error(400, "missing_event", "the webhook URL must carry an event parameter")
        for id_param in ("project_id", "agreement_id", "design_id", "financing_id"):
            value = params.get(id_param)
            if value:
                try:
                    params[id_param] = str(uuid.UUID(value))
                except ValueError:
                    return _error(400, "invalid_id", f"{id_param} is not a UUID")

        event_id = str(uuid.uuid4())
        message = WebhookReceived(
            event_id=event_id,
            integration_id=integration_id,
            event=event,
            aurora_project_id=params.get("project_id") or None,
            agreement_id=params.get("agreement_id") or None,
            design_id=params.get("design_id") or None,
            financing_id=params.get("financing_id") or None,
            status=params.get("status") or None,
            params=params,
            received_at=utcnow(),
        )
        try:
            await publish_event(
                broker,
                message,
                event_id=event_id,
                source=SOURCE,
                key=topics.message_key(integration_id, message.aurora_project_id or ""),
                subject=message.aurora_project_id or integration_id,
            )
        except Exception as exc:
            log.error("publish_failed", event_id=event_id, integration_id=integration_id, error=type(exc).__name__)
            return _error(503, "broker_unavailable", "the event could not be stored; please retry")
        WEBHOOKS.labels("accepted").inc()
        log.info(
            "webhook_accepted",
            event_id=event_id,
            integration_id=integration_id,
            aurora_event=event,
            aurora_project_id=message.aurora_project_id,
            status=message.status,
            ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return JSONBody({"status": "accepted", "event_id": event_id})

    @app.get("/health/live", summary="Liveness: the process serves requests")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready", summary="Readiness: Kafka (and the database, when configured) reachable")
    async def ready(request: Request) -> JSONBody:

        async def kafka_ping() -> None:
            if not await broker.ping(timeout=2.0):
                raise ConnectionError("kafka")

        checks: dict[str, Any] = {"kafka": kafka_ping}
        pool = request.app.state.pool
        if pool is not None:

            async def db_ping() -> None:
                await pool.fetchval("SELECT 1")

            checks["database"] = db_ping
        results = await run_checks(checks)
        ok = all(v == "ok" for v in results.values())
        return JSONBody({"status": "ok" if ok else "unavailable", "checks": results}, status_code=200 if ok else 503)

    return app


def create_worker_app() -> FastAPI:
    """Factory for uvicorn worker processes, which do not inherit the parent's logging setup."""
    from pipeline_common.logs import configure_logging
    from pipeline_common.settings import ServiceSettings

    service = ServiceSettings()
    configure_logging("gateway", level=service.log_level, fmt=service.log_format)
    return create_app()
