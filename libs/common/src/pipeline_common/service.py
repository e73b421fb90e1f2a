"""Process shell of a consuming stage: FastStream app with health and metrics over HTTP, run by uvicorn.

Every consumer service exposes `/health/live` (made progress recently), `/health/ready` (broker and database
reachable) and `/metrics` (Prometheus) on its own port, and stops on SIGTERM after the message in hand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import orjson
import uvicorn
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.kafka import KafkaBroker
from prometheus_client import make_asgi_app

from pipeline_common.health import Progress, ReadinessCheck, run_checks
from pipeline_common.logs import configure_logging
from pipeline_common.settings import ServiceSettings


def _json(body: dict[str, Any], status: int) -> AsgiResponse:
    return AsgiResponse(orjson.dumps(body), status_code=status, headers={"content-type": "application/json"})


def consumer_app(
    *,
    broker: KafkaBroker,
    progress: Sequence[Progress],
    readiness: Callable[[], dict[str, ReadinessCheck]],
    lifespan: Callable[[], AbstractAsyncContextManager[None]],
) -> AsgiFastStream:
    @get
    async def live(scope: Any) -> AsgiResponse:
        states = {p.stage: p.live() for p in progress}
        ok = all(s[0] for s in states.values())
        return _json(
            {"status": "ok" if ok else "stalled", "stages": {k: v[1] for k, v in states.items()}}, 200 if ok else 503
        )

    @get
    async def ready(scope: Any) -> AsgiResponse:
        async def kafka() -> None:
            if not await broker.ping(timeout=2.0):
                raise ConnectionError("kafka")

        results = await run_checks({"kafka": kafka, **readiness()})
        ok = all(v == "ok" for v in results.values())
        return _json({"status": "ok" if ok else "unavailable", "checks": results}, 200 if ok else 503)

    @asynccontextmanager
    async def _lifespan() -> AsyncIterator[None]:
        # FastStream enters the lifespan before it starts the broker; the producer is connected first so
        # background work started here (outbox relay, retry relay, fetch workers) can publish at once.
        await broker.connect()
        async with lifespan():
            yield

    return AsgiFastStream(
        broker,
        asgi_routes=[("/health/live", live), ("/health/ready", ready), ("/metrics", make_asgi_app())],
        lifespan=_lifespan,
        logger=None,
    )


def serve(app: Callable[..., Awaitable[None]] | AsgiFastStream, *, name: str, port: int) -> None:
    service = ServiceSettings()
    configure_logging(name, level=service.log_level, fmt=service.log_format)
    uvicorn.run(
        app,
        host=service.host,
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        timeout_graceful_shutdown=20,
    )
