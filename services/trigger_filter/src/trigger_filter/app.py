"""trigger_filter: `aurora.webhook.received` → (company rules, dedupe, precedence) → `aurora.import.requested`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import asyncpg
from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaBroker

from pipeline_common import topics
from pipeline_common.broker import publish_event
from pipeline_common.events import ImportReason, ImportRequested, TriggerRef, WebhookReceived, derive_event_id
from pipeline_common.integration_log import write_log
from pipeline_common.logs import get_logger
from pipeline_common.metrics import EVENTS_OUT, EVENTS_SKIPPED
from pipeline_common.service import StageWiring, stage_service
from pipeline_common.vocabulary import LogKind
from trigger_filter.heard_agreements import record_agreement
from trigger_filter.rulebook import RuleBook
from trigger_filter.rules import Decision, IntegrationRules, decide

log = get_logger(__name__)
STAGE = "trigger_filter"
SOURCE = "/trigger-filter"


class TriggerFilter:
    def __init__(self, pool: asyncpg.Pool[Any], broker: Any) -> None:
        self.pool = pool
        self.broker = broker
        self.rules = RuleBook(pool)

    async def handle(self, event: WebhookReceived, headers: dict[str, str]) -> None:
        integration = await self.rules.for_integration(event.integration_id)
        decision = decide(event, integration)
        import_id = derive_event_id(event.event_id, "import")
        if integration is None:
            EVENTS_SKIPPED.labels(STAGE, "unknown_integration").inc()
            log.info("webhook_ignored", reason=decision.reason, integration_id=event.integration_id)
            return
        if integration.status != "disconnected":
            # Whether or not agreements are a trigger: other imports of the project find its agreement here,
            # and the record exists before any import this webhook starts is published.
            await record_agreement(self.pool, integration.integration_id, event)
        if decision.subject is not None:
            decision = await self._claim(integration, decision, import_id)
        await self._record(integration, event, decision, import_id)
        if not decision.start:
            EVENTS_SKIPPED.labels(STAGE, "no_trigger").inc()
            log.info("webhook_skipped", reason=decision.reason, aurora_project_id=event.aurora_project_id)
            return
        assert event.aurora_project_id
        assert decision.trigger
        request = ImportRequested(
            event_id=import_id,
            causation_id=event.event_id,
            company_id=integration.company_id,
            integration_id=integration.integration_id,
            aurora_tenant_id=integration.aurora_tenant_id,
            aurora_project_id=event.aurora_project_id,
            agreement_id=event.agreement_id,
            design_id=event.design_id,
            financing_id=event.financing_id,
            reason=ImportReason.TRIGGER,
            trigger=TriggerRef(kind=decision.trigger.kind.value, status=decision.status),
            received_at=event.received_at,
        )
        await publish_event(
            self.broker,
            request,
            event_id=import_id,
            source=SOURCE,
            key=topics.message_key(integration.integration_id, event.aurora_project_id),
            subject=event.aurora_project_id,
        )
        EVENTS_OUT.labels(STAGE, topics.IMPORT_REQUESTED).inc()
        log.info(
            "import_requested",
            import_event_id=import_id,
            reason=decision.reason,
            aurora_project_id=event.aurora_project_id,
            company_id=integration.company_id,
        )

    async def _claim(self, integration: IntegrationRules, decision: Decision, import_id: str) -> Decision:
        """Decide, against what this subject reported before, whether the event is new; remember it if so.

        A redelivery of this very Kafka message (a crash before publishing) finds its own import id and keeps
        its decision, so the import is re-published with the same id instead of being lost.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", f"{integration.integration_id}:{decision.subject}"
            )
            if (decision.subject or "").startswith("agreement:"):
                return await self._claim_agreement_status(conn, integration, decision, import_id)
            return await self._claim_project_status(conn, integration, decision, import_id)

    @staticmethod
    async def _claim_agreement_status(
        conn: Any, integration: IntegrationRules, decision: Decision, import_id: str
    ) -> Decision:
        """Agreement statuses only move forward: a status that already started an import is a duplicate, a
        lower one after a higher one is late. Only statuses that start an import are marked."""
        if not decision.start:
            return decision
        marks = await conn.fetch(
            "SELECT status, rank, event_id FROM trigger_marks WHERE integration_id = $1::uuid AND subject = $2",
            integration.integration_id,
            decision.subject,
        )
        if any(mark["event_id"] == import_id for mark in marks):
            return decision
        if any(mark["status"] == decision.status for mark in marks):
            return _skipped(decision, f"duplicate: agreement already reported {decision.status!r}")
        higher = [m["status"] for m in marks if m["rank"] > decision.rank]
        if higher:
            return _skipped(
                decision,
                f"late status {decision.status!r} after {higher[0]!r}: ignored so it cannot undo the later state",
            )
        await conn.execute(
            "INSERT INTO trigger_marks (integration_id, subject, status, rank, event_id) "
            "VALUES ($1::uuid, $2, $3, $4, $5)",
            integration.integration_id,
            decision.subject,
            decision.status,
            decision.rank,
            import_id,
        )
        return decision

    @staticmethod
    async def _claim_project_status(
        conn: Any, integration: IntegrationRules, decision: Decision, import_id: str
    ) -> Decision:
        """Aurora's webhook has no delivery id: a retry repeats the same URL. So the same status as the latest
        one heard for the project is a redelivery, and a status that comes back after another one is a genuine
        transition that imports again. Every status is remembered, trigger or not, so the one in between counts.
        """
        latest = await conn.fetchrow(
            "SELECT status, event_id FROM trigger_latest_status WHERE integration_id = $1::uuid AND subject = $2",
            integration.integration_id,
            decision.subject,
        )
        if latest is not None and latest["event_id"] == import_id:
            return decision
        if latest is not None and latest["status"] == decision.status:
            return _skipped(
                decision, f"duplicate: project already reported {decision.status!r} (a redelivered webhook)"
            )
        await conn.execute(
            "INSERT INTO trigger_latest_status (integration_id, subject, status, event_id) "
            "VALUES ($1::uuid, $2, $3, $4) ON CONFLICT (integration_id, subject) "
            "DO UPDATE SET status = EXCLUDED.status, event_id = EXCLUDED.event_id, heard_at = now()",
            integration.integration_id,
            decision.subject,
            decision.status,
            import_id,
        )
        if decision.start and latest is not None:
            return replace(decision, reason=f"{decision.reason} (the status was {latest['status']!r})")
        return decision

    async def _record(
        self, integration: IntegrationRules, event: WebhookReceived, decision: Decision, import_id: str
    ) -> None:
        # The log row is keyed by the webhook's event id: a redelivered webhook does not log twice.
        async with self.pool.acquire() as conn, conn.transaction():
            first = await conn.fetchval(
                "INSERT INTO processed_events (stage, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
                STAGE,
                event.event_id,
            )
            if not first:
                return
            await write_log(
                conn,
                company_id=integration.company_id,
                integration_id=integration.integration_id,
                kind=LogKind.WEBHOOK,
                message=f"{event.event} {event.status or ''}".strip() + f": {decision.reason}",
                event_id=event.event_id,
                aurora_project_id=event.aurora_project_id,
                action="import_requested" if decision.start else "skipped",
                details={
                    "event": event.event,
                    "status": event.status,
                    "agreement_id": event.agreement_id,
                    "import_event_id": import_id if decision.start else None,
                },
            )
            await conn.execute(
                "INSERT INTO integration_activity (integration_id, last_event_at) VALUES ($1::uuid, now()) "
                "ON CONFLICT (integration_id) DO UPDATE SET last_event_at = EXCLUDED.last_event_at",
                integration.integration_id,
            )


def _skipped(decision: Decision, reason: str) -> Decision:
    return Decision(False, reason, subject=decision.subject, status=decision.status, rank=decision.rank)


def create_app() -> AsgiFastStream:
    @asynccontextmanager
    async def setup(pool: asyncpg.Pool[Any], broker: KafkaBroker) -> AsyncIterator[Any]:
        yield TriggerFilter(pool, broker).handle

    return stage_service(
        StageWiring(name=STAGE, input_topic=topics.WEBHOOK_RECEIVED, contract=WebhookReceived, setup=setup)
    )
