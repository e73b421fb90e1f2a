"""Rotating a company's webhook secret misses no webhook: both generations are accepted during the rotation,
Aurora's subscriptions carry the new one, and after retiring the old one only the new one opens the door."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx

from pipeline_common import webhooks
from pipeline_common.secrets import WebhookSigner
from tests.fixtures.pipeline import OPERATOR_TOKEN, SIGNING_KEYS, Pipeline

GATEWAY_REFRESH = 2.5  # the gateway re-reads accepted generations every 2 s


def header(integration_id: str, generation: int) -> dict[str, str]:
    secret = WebhookSigner([SIGNING_KEYS]).secret_for(integration_id, generation)
    return {webhooks.SECRET_HEADER: webhooks.secret_header_value(generation, secret)}


async def test_rotation_accepts_both_generations_then_only_the_new(
    pipeline: Pipeline, db_pool: asyncpg.Pool[Any]
) -> None:
    async with (
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
        httpx.AsyncClient(base_url=pipeline.gateway, timeout=30) as gateway,
    ):
        tenant = (await sim.post("/_sim/tenants", json={"name": "Rotation Solar"})).json()
        company = (
            await admin.post(
                "/v1/companies", json={"name": "Rotation Solar"}, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}
            )
        ).json()
        admin.headers["Authorization"] = f"Bearer {company['api_key']}"
        connected = await admin.post(
            "/v1/integrations/aurora", json={"tenant_id": tenant["tenant_id"], "bearer_token": tenant["api_key"]}
        )
        assert connected.status_code == 201, connected.text
        integration_id = await db_pool.fetchval(
            "SELECT id::text FROM integrations WHERE company_id = $1::uuid AND status = 'active'", company["id"]
        )

        async def knock(generation: int) -> int:
            r = await gateway.get(
                f"/webhooks/aurora/{integration_id}",
                params={"event": "project_status_changed", "project_id": str(uuid.uuid4()), "status": "Lead"},
                headers=header(integration_id, generation),
            )
            return r.status_code

        await asyncio.sleep(GATEWAY_REFRESH)
        assert await knock(1) == 200

        rotated = await admin.post("/v1/integrations/aurora/webhook-secret/rotate")
        assert rotated.status_code == 200, rotated.text
        assert "secret" not in rotated.text.lower() or "v2." not in rotated.text
        await asyncio.sleep(GATEWAY_REFRESH)
        assert (await knock(1), await knock(2)) == (200, 200), "both generations accepted during the rotation"

        # Aurora's subscriptions now send the new generation: a signed agreement still imports.
        project = (await sim.post(f"/_sim/tenants/{tenant['tenant_id']}/projects", json={})).json()
        retired = await admin.post("/v1/integrations/aurora/webhook-secret/retire-previous")
        assert retired.status_code == 200, retired.text
        await asyncio.sleep(GATEWAY_REFRESH)
        assert (await knock(1), await knock(2)) == (401, 200), "only the new generation after retiring"

        signed = await sim.post(
            f"/_sim/tenants/{tenant['tenant_id']}/agreements/{project['agreement_id']}/status",
            json={"status": "signed"},
        )
        assert signed.status_code == 200, signed.text
        for _ in range(150):
            page = (await admin.get("/v1/projects", params={"aurora_project_id": project["project_id"]})).json()
            if page["items"]:
                break
            await asyncio.sleep(0.2)
        assert page["items"], "the webhook Aurora sent with the new secret was accepted and imported"
