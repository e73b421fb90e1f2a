"""Writes one fetched Aurora project into the CRM, in one transaction with its log entry, its processed-event
record and its `project.imported` outbox row: a redelivered message changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from pipeline_common import topics
from pipeline_common.events import ImportAction, ProjectFetched, ProjectImported, derive_event_id, utcnow
from pipeline_common.outbox import enqueue

STAGE = "importer"
SOURCE = "/importer"


def _get(data: dict[str, Any] | None, *path: str) -> Any:
    node: Any = data
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


class ProjectWriter:
    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self.pool = pool

    async def write(self, event: ProjectFetched) -> ProjectImported | None:
        """Returns the announcement, or None when this event was already applied."""
        async with self.pool.acquire() as conn, conn.transaction():
            first = await conn.fetchval(
                "INSERT INTO processed_events (stage, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
                STAGE,
                event.event_id,
            )
            if not first:
                return None
            snap = event.snapshot
            project = snap.get("project") or {}
            existing = await conn.fetchrow(
                "SELECT id FROM projects WHERE company_id = $1::uuid AND aurora_project_id = $2 FOR UPDATE",
                event.company_id,
                event.aurora_project_id,
            )
            title = (
                project.get("name")
                or " ".join(p for p in (project.get("customer_first_name"), project.get("customer_last_name")) if p)
                or f"Aurora project {event.aurora_project_id}"
            )
            if existing is None:
                project_id = uuid.uuid4()
                await conn.execute(
                    "INSERT INTO projects (id, company_id, title, source, full_address, aurora_tenant_id, "
                    "aurora_project_id, aurora_design_id) VALUES ($1, $2::uuid, $3, 'aurora', $4, $5, $6, $7)",
                    project_id,
                    event.company_id,
                    title,
                    _get(project, "location", "property_address"),
                    event.aurora_tenant_id,
                    event.aurora_project_id,
                    event.aurora_design_id,
                )
                action = ImportAction.CREATED
            else:
                project_id = existing["id"]
                await conn.execute(
                    "UPDATE projects SET title = $2, aurora_design_id = $3, updated_at = now() WHERE id = $1",
                    project_id,
                    title,
                    event.aurora_design_id,
                )
                action = ImportAction.UPDATED
            imported_id = derive_event_id(event.event_id, "import")
            announcement = ProjectImported(
                event_id=imported_id,
                company_id=event.company_id,
                crm_project_id=str(project_id),
                aurora_tenant_id=event.aurora_tenant_id,
                aurora_project_id=event.aurora_project_id,
                aurora_design_id=event.aurora_design_id,
                action=action,
                trigger=event.trigger,
                changed_fields=["title"],
                occurred_at=utcnow(),
                received_at=event.received_at,
            )
            await conn.execute(
                "INSERT INTO integration_log (company_id, integration_id, event_id, kind, aurora_project_id, "
                "crm_project_id, action, message) VALUES ($1::uuid, $2::uuid, $3, 'import', $4, $5, $6, $7)",
                event.company_id,
                event.integration_id,
                event.event_id,
                event.aurora_project_id,
                project_id,
                action.value,
                f"project {action.value}",
            )
            await enqueue(
                conn,
                announcement,
                event_id=imported_id,
                source=SOURCE,
                key=topics.message_key(event.integration_id, event.aurora_project_id),
                subject=str(project_id),
            )
            return announcement
