"""The webhook ingress: Aurora's GET becomes a `WebhookReceived` on Kafka.

The 2xx is sent only after Kafka acknowledged the message (acks=all), so a webhook we answered is never
lost; if Kafka is down we answer 503 and Aurora retries on its schedule. The rules live in ingress.py; this
module wires the process: producer, the integration directory, health, metrics, OpenAPI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import orjson
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Header, Request
from fastapi.responses import Response
from prometheus_client import make_asgi_app

from gateway.ingress import FastPath, Ingress
from gateway.integrations import IntegrationDirectory
from gateway.settings import GatewaySettings
from pipeline_common import topics, webhooks
from pipeline_common.asyncapi import render as render_asyncapi
from pipeline_common.database import create_pool
from pipeline_common.health import run_checks
from pipeline_common.logs import get_logger
from pipeline_common.secrets import WebhookSigner
from pipeline_common.settings import CryptoSettings, DatabaseSettings, KafkaSettings

log = get_logger(__name__)


class JSONBody(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


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

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka.bootstrap_hosts,
            client_id="gateway",
            acks="all",
            enable_idempotence=True,
            linger_ms=kafka.linger_ms,
            request_timeout_ms=kafka.request_timeout_ms,
        )
        await producer.start()
        pool = None
        try:
            pool = await create_pool(database)
        except OSError as exc:
            # The database only retires old secret generations; webhooks still verify by HMAC without it.
            log.warning("database_unavailable_at_start", error=str(exc))
        directory = IntegrationDirectory(pool, settings.integration_refresh_seconds)
        directory.start()
        app.state.pool = pool
        app.state.producer = producer
        app.state.ingress = Ingress(settings, signer, directory, producer)
        try:
            yield
        finally:
            app.state.ingress = None
            await directory.stop()
            if pool is not None:
                await pool.close()
            await producer.stop()

    app = FastAPI(
        title="Aurora webhook gateway",
        version="1",
        description="Receives Aurora Solar webhooks (HTTP GET with ids in the query string), authenticates "
        "them with the integration's secret header and publishes them to Kafka topic "
        f"`{topics.WEBHOOK_RECEIVED}`. A 2xx means Kafka acknowledged the event. The AsyncAPI document of "
        "every topic is at `/asyncapi.json`.",
        lifespan=lifespan,
    )
    app.add_middleware(FastPath)
    app.mount("/metrics", make_asgi_app())

    @app.get(
        "/webhooks/aurora/{integration_id}",
        summary="Receive one Aurora webhook",
        description="Served by a lean fast path with exactly these rules; documented here. Query parameters: "
        f"{', '.join(sorted(webhooks.KNOWN_PARAMS))} (others are refused).",
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
        ingress: Ingress = request.app.state.ingress
        answer = await ingress.accept(
            integration_id, request.url.query, list(request.query_params.multi_items()), secret
        )
        return JSONBody(answer.body, status_code=answer.status)

    @app.get("/asyncapi.json", summary="AsyncAPI 3.0 document of every topic")
    async def asyncapi() -> Response:
        return Response(render_asyncapi(), media_type="application/json")

    @app.get("/health/live", summary="Liveness: the process serves requests")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready", summary="Readiness: Kafka (and the database, when configured) reachable")
    async def ready(request: Request) -> JSONBody:
        producer: AIOKafkaProducer = request.app.state.producer

        async def kafka_ping() -> None:
            await producer.client.fetch_all_metadata()

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
