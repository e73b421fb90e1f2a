"""Writes one fetched Aurora project into the CRM in one transaction: the processed-event record, contact,
project, custom values, line items, documents, the integration log entry, the backfill counters and the
`project.imported` outbox row. A redelivered event finds its processed-event record and changes nothing.

`changed_fields` in the announcement names what this import changed, as the admin API names it:
standard fields by their target (`project.system_size_kw`, `contact.email`), custom fields as
`custom.<property key>`, and `line_items` / `documents` when any row of those changed.

Round trips are kept few (the pipeline targets hundreds of imports a second): settings are cached, each
table is written by one statement (arrays through unnest), and log, backfill counters and outbox share one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Final

import asyncpg
import orjson

from importer.attachments import attach_documents
from importer.contacts import save_contact
from importer.custom_values import custom_values, write_custom_values
from importer.integration_settings import IntegrationSettings, IntegrationSettingsCache
from importer.line_items import line_items_from, write_line_items
from importer.matching import Match, MatchKeys, find_project
from importer.standard_fields import CONTACT_COLUMNS, PROJECT_COLUMNS, StandardFields, standard_fields
from importer.strategies import changed_columns, merge_fields
from pipeline_common import topics
from pipeline_common.errors import PermanentError
from pipeline_common.events import (
    ImportAction,
    ProjectFetched,
    ProjectImported,
    cloudevent_headers,
    derive_event_id,
    utcnow,
)
from pipeline_common.field_history import declare_change
from pipeline_common.logs import get_logger
from pipeline_common.mapping_catalog import ImportContext
from pipeline_common.vocabulary import ChangeSource, MatchingStrategy

log = get_logger(__name__)

STAGE = "importer"
SOURCE = "/importer"
FAILED_STAGE = "importer.failed"

_ACTION_OF: Final = {MatchingStrategy.ENRICH: ImportAction.UPDATED, MatchingStrategy.REPLACE: ImportAction.REPLACED}

_PROJECT_INSERT: Final = (
    "INSERT INTO projects (id, company_id, contact_id, workflow_id, stage, source, aurora_tenant_id, "  # noqa: S608
    + ", ".join(PROJECT_COLUMNS)
    + ") VALUES ($1, $2, $3, $4, $5, 'aurora', $6, "
    + ", ".join(f"${i + 7}" for i in range(len(PROJECT_COLUMNS)))
    + ") ON CONFLICT (company_id, aurora_project_id) WHERE aurora_project_id IS NOT NULL DO NOTHING RETURNING *"
)
_PROJECT_UPDATE: Final = (
    "UPDATE projects SET contact_id = $2, aurora_tenant_id = $3, "  # noqa: S608 - fixed column names
    + ", ".join(f"{c} = ${i + 4}" for i, c in enumerate(PROJECT_COLUMNS))
    + ", updated_at = now() WHERE id = $1 RETURNING *"
)
_RECORD: Final = """
WITH logged AS (
    INSERT INTO integration_log (company_id, integration_id, event_id, kind, aurora_project_id, crm_project_id,
                                 action, message, details)
    VALUES ($1, $2, $3, 'import', $4, $5, $6, $7, $8::text::jsonb)
), counted AS (
    INSERT INTO backfill_outcomes AS o (backfill_id, imported, skipped)
    SELECT b.id, $9, $10 FROM backfills b WHERE b.id = $11 AND b.integration_id = $2
    ON CONFLICT (backfill_id) DO UPDATE SET imported = o.imported + EXCLUDED.imported,
        skipped = o.skipped + EXCLUDED.skipped, updated_at = now()
), announced AS (
    INSERT INTO outbox (topic, message_key, headers, payload) VALUES ($12, $13, $14::text::jsonb, $15)
)
SELECT pg_notify('outbox', '')
"""


@dataclass
class ImportResult:
    """What one call of `write` did; `announcement` is None when nothing was announced."""

    duplicate: bool = False
    announcement: ProjectImported | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _backfill_id(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


class ProjectWriter:
    def __init__(self, pool: asyncpg.Pool[Any], settings: IntegrationSettingsCache | None = None) -> None:
        self.pool = pool
        self.settings = settings or IntegrationSettingsCache()

    async def write(self, event: ProjectFetched) -> ImportResult:
        async with self.pool.acquire() as conn, conn.transaction():
            first = await conn.fetchval(
                "INSERT INTO processed_events (stage, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
                STAGE,
                event.event_id,
            )
            if not first:
                return ImportResult(duplicate=True)
            await declare_change(conn, ChangeSource.AURORA_IMPORT, event.event_id)
            settings = await self.settings.get(conn, event.integration_id)
            if settings is None or settings.company_id != event.company_id:
                # Deleted since the fetch (or another deployment's event on a shared broker): nothing to
                # import into and no company to log for. Recorded as processed so it is not seen again.
                return ImportResult(details={"reason": "unknown integration"})
            if settings.status == "disconnected":
                await self._log_disconnected(conn, event)
                return ImportResult(details={"reason": "integration disconnected"})
            return await self._import(conn, event, settings)

    async def _import(self, conn: Any, event: ProjectFetched, settings: IntegrationSettings) -> ImportResult:
        snapshot = event.snapshot
        context = ImportContext(
            received_at=event.received_at, signed_at=event.agreement_signed_at, environment=settings.environment
        )
        fields = standard_fields(snapshot, context)
        # The event's ids are the link: they hold even when a snapshot section is missing.
        fields.project["aurora_project_id"] = event.aurora_project_id
        fields.project["aurora_design_id"] = fields.project.get("aurora_design_id") or event.aurora_design_id
        keys = MatchKeys.from_snapshot(event.aurora_project_id, snapshot)
        strategy = settings.strategy
        details: dict[str, Any] = {
            "strategy": strategy.value,
            "design_rule": event.design_rule,
            "aurora_design_id": event.aurora_design_id,
            "trigger": event.trigger.model_dump(),
            "reason": event.reason.value,
        }

        match = await find_project(conn, settings.company_id, keys)
        details["match_rule"] = match.rule.value if match else None
        changed: list[str] = []
        if match is not None and strategy is MatchingStrategy.SKIP:
            action, project_id = ImportAction.SKIPPED, match.project["id"]
        else:
            contact = await save_contact(
                conn,
                settings.company_id,
                fields.contact,
                strategy=strategy,
                unknown=fields.unknown,
                current=match.contact if match else None,
            )
            project, match = await self._save_project(conn, event, settings, fields, match, contact)
            project_id = project["id"]
            action = _ACTION_OF[strategy] if match is not None else ImportAction.CREATED
            details["match_rule"] = match.rule.value if match else None
            is_new = match is None
            if contact is not None:
                # Compared with the contact the project had: from the project's side that is what changed.
                before = match.contact if match else None
                changed += [f"contact.{c}" for c in changed_columns(before, contact, CONTACT_COLUMNS)]
            changed += [
                f"project.{c}" for c in changed_columns(match.project if match else None, project, PROJECT_COLUMNS)
            ]
            # A new project has nothing to blank, whatever the strategy.
            values = custom_values(snapshot, settings.custom_mappings, MatchingStrategy.ENRICH if is_new else strategy)
            changed += [f"custom.{key}" for key in await write_custom_values(conn, project_id, values)]
            items = line_items_from(snapshot)
            if await write_line_items(conn, project_id, items, strategy, is_new=is_new):
                changed.append("line_items")
            documents_changed, missing = await attach_documents(
                conn,
                project_id,
                event.documents,
                strategy,
                is_new=is_new,
                agreement_read=snapshot.get("agreement") is not None,
                not_fetched=event.documents_not_fetched,
            )
            if documents_changed:
                changed.append("documents")
            if values.problems:
                details["conversion_problems"] = values.problems
            if fields.problems:
                details["standard_field_problems"] = fields.problems
            if missing:
                details["missing_documents"] = missing
            if event.documents_not_fetched:
                details["documents_not_fetched"] = [d.model_dump(mode="json") for d in event.documents_not_fetched]
            details["line_items"] = len(items)
            details["documents"] = len(event.documents) - len(missing)
        details["changed_fields"] = changed

        announcement = ProjectImported(
            event_id=derive_event_id(event.event_id, "import"),
            company_id=event.company_id,
            crm_project_id=str(project_id),
            aurora_tenant_id=event.aurora_tenant_id,
            aurora_project_id=event.aurora_project_id,
            aurora_design_id=event.aurora_design_id,
            action=action,
            trigger=event.trigger,
            changed_fields=changed,
            occurred_at=utcnow(),
            received_at=event.received_at,
        )
        await self._record(conn, event, announcement, project_id, _message(action, match, details), details)
        return ImportResult(announcement=announcement, details=details)

    async def _save_project(
        self,
        conn: Any,
        event: ProjectFetched,
        settings: IntegrationSettings,
        fields: StandardFields,
        match: Match | None,
        contact: dict[str, Any] | None,
    ) -> tuple[dict[str, Any], Match | None]:
        contact_id = contact["id"] if contact else None
        fallback_title = f"Aurora project {event.aurora_project_id}"
        for _ in range(3):
            if match is None:
                values = dict(fields.project)
                values["title"] = values.get("title") or fallback_title
                row = await conn.fetchrow(
                    _PROJECT_INSERT,
                    uuid.uuid4(),
                    uuid.UUID(settings.company_id),
                    contact_id,
                    settings.workflow_id,
                    settings.first_stage if settings.workflow_id else None,
                    event.aurora_tenant_id,
                    *(values[c] for c in PROJECT_COLUMNS),
                )
                if row is not None:
                    return dict(row), None
                # Another import created this Aurora project's project since we looked: update that one.
                keys = MatchKeys.from_snapshot(event.aurora_project_id, event.snapshot)
                match = await find_project(conn, settings.company_id, keys)
                continue
            merged = merge_fields(settings.strategy, match.project, fields.project, fields.unknown)
            merged["title"] = merged.get("title") or match.project.get("title") or fallback_title
            row = await conn.fetchrow(
                _PROJECT_UPDATE,
                match.project["id"],
                contact_id if contact_id is not None else match.project.get("contact_id"),
                event.aurora_tenant_id,
                *(merged[c] for c in PROJECT_COLUMNS),
            )
            return dict(row), match
        raise PermanentError("the project could neither be created nor found", code="project_conflict")

    async def _record(
        self,
        conn: Any,
        event: ProjectFetched,
        announcement: ProjectImported,
        project_id: Any,
        message: str,
        details: dict[str, Any],
    ) -> None:
        skipped = announcement.action is ImportAction.SKIPPED
        headers = cloudevent_headers(
            announcement, event_id=announcement.event_id, source=SOURCE, subject=str(project_id)
        )
        await conn.execute(
            _RECORD,
            uuid.UUID(event.company_id),
            uuid.UUID(event.integration_id),
            event.event_id,
            event.aurora_project_id,
            project_id,
            announcement.action.value,
            message,
            _json(details),
            0 if skipped else 1,
            1 if skipped else 0,
            _backfill_id(event.backfill_id),
            announcement.topic,
            topics.message_key(event.integration_id, event.aurora_project_id),
            _json(headers),
            announcement.to_bytes(),
        )

    async def _log_disconnected(self, conn: Any, event: ProjectFetched) -> None:
        await conn.execute(
            "WITH logged AS (INSERT INTO integration_log (company_id, integration_id, event_id, kind, "
            "aurora_project_id, action, message) VALUES ($1, $2, $3, 'import', $4, 'skipped', "
            "'integration is disconnected; project not imported')) "
            "INSERT INTO backfill_outcomes AS o (backfill_id, skipped) "
            "SELECT b.id, 1 FROM backfills b WHERE b.id = $5 AND b.integration_id = $2 "
            "ON CONFLICT (backfill_id) DO UPDATE SET skipped = o.skipped + 1, updated_at = now()",
            uuid.UUID(event.company_id),
            uuid.UUID(event.integration_id),
            event.event_id,
            event.aurora_project_id,
            _backfill_id(event.backfill_id),
        )

    async def record_failure(self, event: ProjectFetched, error: str) -> None:
        """An import that will not be retried again: logged once, and counted on its backfill."""
        try:
            await self._record_failure(event, error)
        except (asyncpg.PostgresError, OSError) as exc:
            # Losing this note must not change how the failure itself is routed (retry or dead letter).
            log.warning("import_failure_not_recorded", error=type(exc).__name__, detail=str(exc)[:200])

    async def _record_failure(self, event: ProjectFetched, error: str) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            first = await conn.fetchval(
                "INSERT INTO processed_events (stage, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
                FAILED_STAGE,
                event.event_id,
            )
            if not first:
                return
            await conn.execute(
                "WITH logged AS (INSERT INTO integration_log (company_id, integration_id, event_id, kind, "
                "aurora_project_id, action, message, details) VALUES ($1, $2, $3, 'import', $4, 'failed', $5, "
                "$6::text::jsonb)) "
                "INSERT INTO backfill_outcomes AS o (backfill_id, failed) "
                "SELECT b.id, 1 FROM backfills b WHERE b.id = $7 AND b.integration_id = $2 "
                "ON CONFLICT (backfill_id) DO UPDATE SET failed = o.failed + 1, updated_at = now()",
                uuid.UUID(event.company_id),
                uuid.UUID(event.integration_id),
                event.event_id,
                event.aurora_project_id,
                f"import failed: {error}"[:1000],
                _json({"design_rule": event.design_rule, "trigger": event.trigger.model_dump()}),
                _backfill_id(event.backfill_id),
            )


def _message(action: ImportAction, match: Match | None, details: dict[str, Any]) -> str:
    how = f" (matched by {match.rule.value})" if match else ""
    text = {
        ImportAction.CREATED: "project created",
        ImportAction.UPDATED: "project enriched from Aurora",
        ImportAction.REPLACED: "project replaced with Aurora's data",
        ImportAction.SKIPPED: "existing project left untouched (strategy: skip)",
    }[action] + how
    problems = len(details.get("conversion_problems", ())) + len(details.get("standard_field_problems", ()))
    if problems:
        text += f"; {problems} value(s) could not be converted, see details"
    not_fetched = details.get("documents_not_fetched") or ()
    if not_fetched:
        # Which document and why, in the entry itself: the company re-syncs once the cause is fixed.
        named = "; ".join(f"{d['kind']} {d.get('file_name') or ''} ({d['reason']})" for d in not_fetched)
        text += f"; imported without {len(not_fetched)} document(s), a re-sync attaches them: {named}"
    return text
