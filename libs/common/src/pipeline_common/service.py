"""Process shell of a consuming stage: FastStream app with health and metrics over HTTP, run by uvicorn.

Every consumer service exposes `/health/live` (made progress recently), `/health/ready` (broker and database
reachable) and `/metrics` (Prometheus) on its own port, and stops on SIGTERM after the message in hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import uvicorn
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.kafka import KafkaBroker
from prometheus_client import make_asgi_app

from pipeline_common.broker import make_broker
from pipeline_common.database import create_pool
from pipeline_common.events import Contract
from pipeline_common.health import Progress, ReadinessCheck, run_checks
from pipeline_common.logs import configure_logging
from pipeline_common.retry import RetryPolicy
from pipeline_common.settings import DatabaseSettings, KafkaSettings, ServiceSettings
from pipeline_common.stage import RetryRelay, Stage


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
        # Its records go through configure_logging's handler (JSON lines), not uvicorn's own text formatter.
        log_config=None,
        loop="uvloop",
        timeout_graceful_shutdown=20,
    )


StageSetup = Callable[[Any, KafkaBroker], AbstractAsyncContextManager[Any]]


@dataclass(frozen=True)
class StageWiring:
    """What a consuming service declares; `stage_service` builds the rest the same way for every stage.

    `setup(pool, broker)` is an async context manager that yields the handler for the stage's input
    contract, starting and stopping whatever background work the stage owns (outbox relay, fetch workers).
    """

    name: str
    input_topic: str
    contract: type[Contract]
    setup: StageSetup
    policy: RetryPolicy | None = None
    max_workers: int = 1
    pool_min_size: int | None = None
    extra_progress: Sequence[Progress] = ()
    extra_readiness: Callable[[], dict[str, ReadinessCheck]] | None = None


async def _sample_lag(stage: Stage[Any], every: float = 5.0) -> None:
    while True:
        await asyncio.sleep(every)
        await stage.record_lag()


def stage_service(wiring: StageWiring) -> AsgiFastStream:
    """A consumer process: broker, the stage runtime with its retry relay, a database pool, health and metrics."""
    kafka = KafkaSettings()
    database = DatabaseSettings()
    if wiring.pool_min_size is not None:
        warm = min(max(database.db_pool_min_size, wiring.pool_min_size), database.db_pool_max_size)
        database = database.model_copy(update={"db_pool_min_size": warm})
    broker = make_broker(kafka, client_id=wiring.name)
    state: dict[str, Any] = {}

    async def handle(event: Any, headers: dict[str, str]) -> None:
        await state["handler"](event, headers)

    stage: Stage[Any] = Stage(
        name=wiring.name,
        broker=broker,
        input_topic=wiring.input_topic,
        contract=wiring.contract,
        handler=handle,
        policy=wiring.policy,
        max_workers=wiring.max_workers,
    )
    stage.register()
    relay = RetryRelay(
        bootstrap_servers=kafka.bootstrap_hosts,
        input_topic=wiring.input_topic,
        group_id=stage.group_id,
        broker=broker,
    )

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        pool = await create_pool(database)
        state["pool"] = pool
        try:
            async with wiring.setup(pool, broker) as handler:
                state["handler"] = handler
                relay.start()
                lag = asyncio.create_task(_sample_lag(stage))
                try:
                    yield
                finally:
                    lag.cancel()
                    await relay.stop()
        finally:
            await pool.close()

    def readiness() -> dict[str, ReadinessCheck]:
        async def db() -> None:
            await state["pool"].fetchval("SELECT 1")

        return {"database": db, **(wiring.extra_readiness() if wiring.extra_readiness else {})}

    return consumer_app(
        broker=broker, progress=[stage.progress, *wiring.extra_progress], readiness=readiness, lifespan=lifespan
    )
