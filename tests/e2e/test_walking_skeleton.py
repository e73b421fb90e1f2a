"""The walking skeleton: a signed agreement in the emulator becomes a CRM project row and a
`project.imported` message, through the real gateway, broker, stages and database.

The integration is set up directly in the database and the emulator here, so this test depends on nothing
but the pipeline's own hops; the admin-API flow is covered by tests/e2e/test_import_flow.py.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
from pydantic import SecretStr

from pipeline_common import topics, webhooks
from pipeline_common.events import trace_id_of
from pipeline_common.secrets import TokenCipher, WebhookSigner
from tests.fixtures.pipeline import SIGNING_KEYS, TOKEN_KEYS, Pipeline


async def connect_directly(pool: asyncpg.Pool[Any], pipeline: Pipeline, tenant_id: str, api_key: str) -> str:
    company_id, integration_id = uuid.uuid4(), uuid.uuid4()
    cipher = TokenCipher([TOKEN_KEYS])
    await pool.execute("INSERT INTO companies (id, name) VALUES ($1, 'Skeleton Solar')", company_id)
    await pool.execute(
        "INSERT INTO integrations (id, company_id, aurora_tenant_id, environment, token_ciphertext, token_hint) "
        "VALUES ($1, $2, $3, 'sandbox', $4, 'sk_sand')",
        integration_id,
        company_id,
        tenant_id,
        cipher.encrypt(SecretStr(api_key)),
    )
    await pool.execute(
        "INSERT INTO triggers (id, integration_id, kind, statuses) VALUES ($1, $2, 'agreement_status_changed', "
        "ARRAY['signed'])",
        uuid.uuid4(),
        integration_id,
    )
    secret = WebhookSigner([SIGNING_KEYS]).secret_for(str(integration_id), 1)
    async with httpx.AsyncClient(base_url=pipeline.sim, headers={"Authorization": f"Bearer {api_key}"}) as aurora:
        response = await aurora.post(
            f"/tenants/{tenant_id}/webhooks",
            json={
                "webhook": {
                    "event": "agreement_status_changed",
                    "url_template": webhooks.url_template(
                        pipeline.gateway, str(integration_id), "agreement_status_changed"
                    ),
                    "description": "CRM import",
                    "enabled": True,
                    "header_auth_key": webhooks.SECRET_HEADER,
                    "header_auth_value": webhooks.secret_header_value(1, secret),
                }
            },
        )
        assert response.status_code == 201, response.text
    return str(company_id)


async def test_signed_agreement_becomes_a_project(
    pipeline: Pipeline, db_pool: asyncpg.Pool[Any], read_topic: Any
) -> None:
    imported = await read_topic(topics.PROJECT_IMPORTED)
    received = await read_topic(topics.WEBHOOK_RECEIVED)
    async with httpx.AsyncClient(base_url=pipeline.sim) as sim:
        tenant = (await sim.post("/_sim/tenants", json={"name": "Skeleton Tenant"})).json()
        company_id = await connect_directly(db_pool, pipeline, tenant["tenant_id"], tenant["api_key"])
        project = (await sim.post(f"/_sim/tenants/{tenant['tenant_id']}/projects", json={})).json()
        signed = await sim.post(
            f"/_sim/tenants/{tenant['tenant_id']}/agreements/{project['agreement_id']}/status",
            json={"status": "signed"},
        )
        assert signed.status_code == 200, signed.text

    messages = await imported.take(1, where=lambda m: m["aurora_project_id"] == project["project_id"])
    assert len(messages) == 1, "no project.imported message for the signed project"
    message = messages[0]
    assert message["company_id"] == company_id
    assert message["action"] == "created"
    assert message["trigger"] == {"kind": "agreement_status_changed", "status": "signed"}
    assert message["aurora_tenant_id"] == tenant["tenant_id"]
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
