"""The walking skeleton: a signed agreement in the emulator becomes a CRM project row and a
`project.imported` message, through the real gateway, broker, stages and database.

The company is made and connected through the admin API (which registers the webhook subscriptions in the
emulator); the field-by-field checks are in tests/e2e/test_import_flow.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx

from pipeline_common import topics
from pipeline_common.events import trace_id_of
from tests.e2e.test_import_flow import new_company
from tests.fixtures.pipeline import Pipeline


async def test_signed_agreement_becomes_a_project(
    pipeline: Pipeline, db_pool: asyncpg.Pool[Any], read_topic: Any
) -> None:
    imported = await read_topic(topics.PROJECT_IMPORTED)
    received = await read_topic(topics.WEBHOOK_RECEIVED)
    async with (
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
    ):
        company, tenant = await new_company(pipeline, admin, sim)
        company_id = company.id
        project = await tenant.new_project()
        await tenant.sign(project["agreement_id"])

    messages = await imported.take(1, where=lambda m: m["aurora_project_id"] == project["project_id"])
    assert len(messages) == 1, "no project.imported message for the signed project"
    message = messages[0]
    assert message["company_id"] == company_id
    assert message["action"] == "created"
    assert message["trigger"] == {"kind": "agreement_status_changed", "status": "signed"}
    assert message["aurora_tenant_id"] == tenant.tenant_id
    assert message["_headers"]["ce_type"] == "com.crm.project.imported.v1"
    assert message["_headers"]["ce_id"] == message["event_id"]
    # One trace from the webhook to project.imported (W3C traceparent carried by every stage).
    [webhook] = await received.take(
        1, where=lambda m: m["aurora_project_id"] == project["project_id"] and m["status"] == "signed"
    )
    assert trace_id_of(message["_headers"]["traceparent"]) == trace_id_of(webhook["_headers"]["traceparent"])

    row = await db_pool.fetchrow(
        "SELECT id::text, company_id::text, source, aurora_design_id FROM projects WHERE aurora_project_id = $1",
        project["project_id"],
    )
    assert row is not None
    assert row["id"] == message["crm_project_id"]
    assert row["company_id"] == company_id
    assert row["source"] == "aurora"
    assert row["aurora_design_id"] in project["design_ids"]
    await asyncio.sleep(0)
