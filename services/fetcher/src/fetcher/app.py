"""fetcher: `aurora.import.requested` → Aurora's current state → `aurora.project.fetched`.

Aurora's errors follow the client's taxonomy: transient ones (timeouts, 5xx, 429) are retried by the stage
runtime; a 401 marks the integration as needing attention and parks the import, so a re-sync after the
company replaces its token completes it; 403/404 are logged with Aurora's message and dead-lettered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from faststream.asgi import AsgiFastStream

from fetcher.credentials import CredentialStore
from fetcher.settings import FetcherSettings
from fetcher.snapshot import SnapshotReader
from pipeline_common import topics
from pipeline_common.aurora import (
    AuroraCall,
    AuroraClient,
    AuroraError,
    AuroraSettings,
    InvalidCredentials,
    NotFound,
    NotPermitted,
    PermanentAuroraError,
    RateLimited,
    TransientAuroraError,
)
from pipeline_common.broker import make_broker, publish_event
from pipeline_common.database import create_pool
from pipeline_common.errors import PermanentError, TransientError
from pipeline_common.events import ImportRequested, ProjectFetched, derive_event_id, utcnow
from pipeline_common.health import ReadinessCheck
from pipeline_common.logs import get_logger
from pipeline_common.metrics import AURORA_CALLS, AURORA_LIMITER_WAIT, EVENTS_OUT, EVENTS_SKIPPED
from pipeline_common.secrets import TokenCipher
from pipeline_common.service import consumer_app
from pipeline_common.settings import CryptoSettings, DatabaseSettings, KafkaSettings
from pipeline_common.stage import RetryRelay, Stage

log = get_logger(__name__)
STAGE = "fetcher"
SOURCE = "/fetcher"


def record_call(call: AuroraCall) -> None:
    AURORA_CALLS.labels(call.endpoint, str(call.status) if call.status is not None else "error").inc()
    AURORA_LIMITER_WAIT.observe(call.rate_limit_wait_seconds)


class Fetcher:
    def __init__(self, pool: asyncpg.Pool[Any], broker: Any, aurora: AuroraClient, settings: FetcherSettings) -> None:
        self.pool = pool
        self.broker = broker
        self.credentials = CredentialStore(pool, TokenCipher.from_settings(CryptoSettings()))
        self.reader = SnapshotReader(aurora, pool, settings.max_document_bytes)

    async def handle(self, request: ImportRequested, headers: dict[str, str]) -> None:
        access = await self.credentials.get(request.integration_id)
        if access is None or access.status == "disconnected":
            EVENTS_SKIPPED.labels(STAGE, "integration_gone").inc()
            await self._log(request, "skipped", "integration is disconnected; import not fetched")
            return
        if access.status == "needs_attention":
            await self._park(request, "integration needs attention (Aurora rejected the token)")
            return
        try:
            snapshot = await self.reader.read(request, access.credentials)
        except InvalidCredentials as exc:
            await self._needs_attention(request, f"Aurora rejected the token: {exc.message}")
            return
        except (NotPermitted, NotFound) as exc:
            await self._log(request, "fetch_error", f"Aurora {exc.status}: {exc.message}")
            raise PermanentError(
                f"Aurora {exc.status} on {exc.endpoint}: {exc.message}", code=f"aurora_{exc.status}"
            ) from exc
        except (TransientAuroraError, RateLimited) as exc:
            raise TransientError(
                f"Aurora unavailable on {exc.endpoint}: {exc.message}", code="aurora_transient"
            ) from exc
        except PermanentAuroraError as exc:
            await self._log(request, "fetch_error", f"Aurora {exc.status}: {exc.message}")
            raise PermanentError(str(exc), code="aurora_permanent") from exc
        except AuroraError as exc:
            raise TransientError(str(exc), code="aurora_error") from exc

        fetched_id = derive_event_id(request.event_id, "fetch")
        event = ProjectFetched(
            event_id=fetched_id,
            causation_id=request.event_id,
            company_id=request.company_id,
            integration_id=request.integration_id,
            aurora_tenant_id=request.aurora_tenant_id,
            aurora_project_id=request.aurora_project_id,
            aurora_design_id=snapshot.design.design_id,
            design_rule=snapshot.design.rule,
            reason=request.reason,
            trigger=request.trigger,
            backfill_id=request.backfill_id,
            snapshot=snapshot.data,
            documents=snapshot.documents,
            received_at=request.received_at,
            fetched_at=utcnow(),
        )
        await publish_event(
            self.broker,
            event,
            event_id=fetched_id,
            source=SOURCE,
            key=topics.message_key(request.integration_id, request.aurora_project_id),
            subject=request.aurora_project_id,
        )
        EVENTS_OUT.labels(STAGE, topics.PROJECT_FETCHED).inc()
        log.info(
            "project_fetched",
            aurora_project_id=request.aurora_project_id,
            design_id=snapshot.design.design_id,
            design_rule=snapshot.design.rule,
            documents=len(snapshot.documents),
        )

    async def _log(self, request: ImportRequested, kind: str, message: str) -> None:
        await self.pool.execute(
            "INSERT INTO integration_log (company_id, integration_id, event_id, kind, aurora_project_id, message) "
            "VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6)",
            request.company_id,
            request.integration_id,
            request.event_id,
            kind,
            request.aurora_project_id,
            message,
        )

    async def _park(self, request: ImportRequested, reason: str) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO parked_imports (event_id, integration_id, aurora_project_id, payload, reason) "
                "VALUES ($1, $2::uuid, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
                request.event_id,
                request.integration_id,
                request.aurora_project_id,
                request.model_dump(mode="json"),
                reason,
            )
            await conn.execute(
                "INSERT INTO integration_log (company_id, integration_id, event_id, kind, aurora_project_id, message) "
                "VALUES ($1::uuid, $2::uuid, $3, 'parked', $4, $5)",
                request.company_id,
                request.integration_id,
                request.event_id,
                request.aurora_project_id,
                f"import parked: {reason}; it completes on re-sync after the token is fixed",
            )
        EVENTS_SKIPPED.labels(STAGE, "parked").inc()
        log.warning("import_parked", reason=reason, aurora_project_id=request.aurora_project_id)

    async def _needs_attention(self, request: ImportRequested, reason: str) -> None:
        await self.pool.execute(
            "UPDATE integrations SET status = 'needs_attention', status_reason = $2, updated_at = now() "
            "WHERE id = $1::uuid AND status = 'active'",
            request.integration_id,
            reason,
        )
        self.credentials.forget(request.integration_id)
        await self._park(request, reason)


def create_app() -> AsgiFastStream:
    kafka = KafkaSettings()
    database = DatabaseSettings()
    settings = FetcherSettings()
    broker = make_broker(kafka, client_id=STAGE)
    state: dict[str, Any] = {}

    async def handle(event: ImportRequested, headers: dict[str, str]) -> None:
        await state["fetcher"].handle(event, headers)

    stage = Stage(
        name=STAGE, broker=broker, input_topic=topics.IMPORT_REQUESTED, contract=ImportRequested, handler=handle
    )
    stage.register()
    relay = RetryRelay(
        bootstrap_servers=kafka.bootstrap_servers,
        input_topic=topics.IMPORT_REQUESTED,
        group_id=stage.group_id,
        broker=broker,
    )

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        pool = await create_pool(database)
        aurora = AuroraClient(AuroraSettings(), on_call=record_call)
        state.update(pool=pool, fetcher=Fetcher(pool, broker, aurora, settings))
        relay.start()
        try:
            yield
        finally:
            await relay.stop()
            await aurora.aclose()
            await pool.close()

    def readiness() -> dict[str, ReadinessCheck]:
        async def db() -> None:
            await state["pool"].fetchval("SELECT 1")

        return {"database": db}

    return consumer_app(broker=broker, progress=[stage.progress], readiness=readiness, lifespan=lifespan)
