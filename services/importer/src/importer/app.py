"""importer: `aurora.project.fetched` → CRM rows (one transaction) → outbox → `project.imported`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaBroker

from importer.integration_settings import IntegrationSettingsCache
from importer.settings import ImporterSettings
from importer.writer import STAGE, ProjectWriter
from pipeline_common import topics
from pipeline_common.events import ProjectFetched
from pipeline_common.logs import get_logger
from pipeline_common.metrics import EVENTS_OUT, EVENTS_SKIPPED
from pipeline_common.outbox import OutboxRelay
from pipeline_common.retry import StageRetrySettings
from pipeline_common.service import StageWiring, stage_service
from pipeline_common.stage import ATTEMPT_HEADER

log = get_logger(__name__)


def create_app() -> AsgiFastStream:
    settings = ImporterSettings()
    # The stage runtime retries with this same policy, so the two agree on which attempt is the last.
    policy = StageRetrySettings().policy()
    state: dict[str, Any] = {}

    async def handle(event: ProjectFetched, headers: dict[str, str]) -> None:
        writer: ProjectWriter = state["writer"]
        try:
            result = await writer.write(event)
        except Exception as exc:
            # The last attempt, or one retrying cannot help: the log and the backfill must show it failed.
            attempt = int(headers.get(ATTEMPT_HEADER, "1") or 1)
            if not policy.retries(exc, attempt):
                await writer.record_failure(event, f"{type(exc).__name__}: {exc}")
            raise
        if result.duplicate:
            EVENTS_SKIPPED.labels(STAGE, "already_imported").inc()
            log.info("already_imported", aurora_project_id=event.aurora_project_id)
            return
        announcement = result.announcement
        if announcement is None:
            EVENTS_SKIPPED.labels(STAGE, str(result.details.get("reason", "not_imported")).replace(" ", "_")).inc()
            log.info("import_skipped", aurora_project_id=event.aurora_project_id, **result.details)
            return
        state["relay"].wake()
        EVENTS_OUT.labels(STAGE, topics.PROJECT_IMPORTED).inc()
        log.info(
            "project_imported",
            aurora_project_id=event.aurora_project_id,
            crm_project_id=announcement.crm_project_id,
            action=announcement.action.value,
            match_rule=result.details.get("match_rule"),
            changed=len(announcement.changed_fields),
            conversion_problems=len(result.details.get("conversion_problems", ())),
        )

    @asynccontextmanager
    async def setup(pool: asyncpg.Pool[Any], broker: KafkaBroker) -> AsyncIterator[Any]:
        relay = OutboxRelay(pool, broker)
        cache = IntegrationSettingsCache(ttl=settings.settings_ttl_seconds)
        state.update(writer=ProjectWriter(pool, cache), relay=relay)
        relay.start()
        try:
            yield handle
        finally:
            await relay.stop()

    return stage_service(
        StageWiring(
            name=STAGE,
            input_topic=topics.PROJECT_FETCHED,
            contract=ProjectFetched,
            setup=setup,
            policy=policy,
            max_workers=settings.workers,
        )
    )
