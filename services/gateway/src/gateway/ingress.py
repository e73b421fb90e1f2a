"""Accepting one Aurora webhook: authenticate, validate, publish, and say what happened.

Both HTTP adapters (the lean ASGI fast path and the documented FastAPI route in app.py) call `Ingress.accept`,
so there is one implementation of the rules. Publishing uses aiokafka's producer directly (acks=all,
idempotent): this is the hottest path of the system and every layer on it costs webhooks per second.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from gateway.integrations import IntegrationDirectory
from gateway.settings import GatewaySettings
from pipeline_common import topics, webhooks
from pipeline_common.events import WebhookReceived, cloudevent_headers, trace_id_of, utcnow
from pipeline_common.logs import get_logger
from pipeline_common.metrics import WEBHOOKS
from pipeline_common.secrets import WebhookSigner

log = get_logger(__name__)
SOURCE = "/gateway"
ID_PARAMS = ("project_id", "agreement_id", "design_id", "financing_id")


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]

    def encode(self) -> bytes:
        return orjson.dumps(self.body)


def _refuse(status: int, code: str, message: str) -> Answer:
    WEBHOOKS.labels(code).inc()
    return Answer(status, {"error": {"code": code, "message": message}})


def _event_id() -> str:
    # uuid4() is measurably slow on this path; the same random version-4 UUID from os.urandom directly.
    return str(uuid.UUID(bytes=os.urandom(16), version=4))


class Ingress:
    def __init__(
        self,
        settings: GatewaySettings,
        signer: WebhookSigner,
        directory: IntegrationDirectory,
        producer: AIOKafkaProducer,
    ) -> None:
        self.settings = settings
        self.signer = signer
        self.directory = directory
        self.producer = producer

    async def accept(self, integration_id: str, query: str, pairs: list[tuple[str, str]], secret: str | None) -> Answer:
        started = time.perf_counter()
        try:
            integration_id = str(uuid.UUID(integration_id))
        except ValueError:
            return _refuse(400, "invalid_integration_id", "the webhook URL does not name an integration")
        parsed = webhooks.parse_secret_header(secret) if secret else None
        if parsed is None:
            return _refuse(401, "missing_secret", f"the {webhooks.SECRET_HEADER} header is missing or malformed")
        generation, presented = parsed
        if not (
            self.signer.verify(integration_id, generation, presented)
            and self.directory.accepts(integration_id, generation)
        ):
            return _refuse(401, "invalid_secret", "the webhook secret does not match this integration")

        if len(query) > self.settings.max_query_bytes:
            return _refuse(400, "query_too_large", f"the query string exceeds {self.settings.max_query_bytes} bytes")
        params: dict[str, str] = {}
        for name, value in pairs:
            if name not in webhooks.KNOWN_PARAMS:
                return _refuse(400, "unknown_parameter", f"unknown query parameter {name!r}")
            if name in params:
                return _refuse(400, "repeated_parameter", f"query parameter {name!r} is repeated")
            if len(value) > self.settings.max_param_chars:
                return _refuse(400, "parameter_too_long", f"query parameter {name!r} is too long")
            params[name] = value
        event = params.get("event", "").strip()
        if not event:
            return _refuse(400, "missing_event", "the webhook URL must carry an event parameter")
        for id_param in ID_PARAMS:
            raw = params.get(id_param)
            if raw:
                try:
                    params[id_param] = str(uuid.UUID(raw))
                except ValueError:
                    return _refuse(400, "invalid_id", f"{id_param} is not a UUID")

        event_id = _event_id()
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
        headers = cloudevent_headers(
            message, event_id=event_id, source=SOURCE, subject=message.aurora_project_id or integration_id
        )
        try:
            await self.producer.send_and_wait(
                topics.WEBHOOK_RECEIVED,
                message.to_bytes(),
                key=topics.message_key(integration_id, message.aurora_project_id or ""),
                headers=[(k, v.encode()) for k, v in headers.items()],
            )
        except Exception as exc:
            log.error("publish_failed", event_id=event_id, integration_id=integration_id, error=type(exc).__name__)
            return _refuse(503, "broker_unavailable", "the event could not be stored; please retry")
        WEBHOOKS.labels("accepted").inc()
        log.info(
            "webhook_accepted",
            event_id=event_id,
            integration_id=integration_id,
            aurora_event=event,
            aurora_project_id=message.aurora_project_id,
            status=message.status,
            trace_id=trace_id_of(headers["traceparent"]),
            ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return Answer(200, {"status": "accepted", "event_id": event_id})


PREFIX = "/webhooks/aurora/"


class FastPath:
    """ASGI middleware answering webhook GETs without the framework's routing and validation layers; every
    other request (docs, health, metrics) goes to the FastAPI app."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path: str = scope.get("path", "")
        # Set by the app's lifespan; absent until the producer is connected.
        ingress: Ingress | None = getattr(scope["app"].state, "ingress", None) if "app" in scope else None
        if (
            ingress is None
            or scope["type"] != "http"
            or scope["method"] != "GET"
            or not path.startswith(PREFIX)
            or "/" in path[len(PREFIX) :]
        ):
            await self.app(scope, receive, send)
            return
        from urllib.parse import parse_qsl

        raw_query: bytes = scope.get("query_string", b"")
        query = raw_query.decode("latin-1")
        secret = None
        wanted = webhooks.SECRET_HEADER.lower().encode()
        for name, value in scope["headers"]:
            if name == wanted:
                secret = value.decode("latin-1")
                break
        answer = await ingress.accept(path[len(PREFIX) :], query, parse_qsl(query, keep_blank_values=True), secret)
        body = answer.encode()
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
