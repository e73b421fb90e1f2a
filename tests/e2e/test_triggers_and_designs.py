"""The user guide's trigger choices and the design rules, end to end through the real processes: a trigger
changed to *viewed* or to a project status, the right design among several, and a disconnected company."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx

from pipeline_common import topics, webhooks
from pipeline_common.secrets import WebhookSigner
from tests.e2e.test_import_flow import SETTINGS_TTL, imported, new_company
from tests.fixtures.pipeline import SIGNING_KEYS, Pipeline

TRIGGERS = "/v1/integrations/aurora/triggers"


async def log_messages(company: Any, aurora_project_id: str) -> list[str]:
    page = await company.call("GET", "/v1/integrations/aurora/log", 200, aurora_project_id=aurora_project_id)
    return [entry["message"] for entry in page["items"]]


async def eventually(check: Any, seconds: float = 30) -> Any:
    for _ in range(int(seconds / 0.25)):
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.25)
    return await check()


async def test_trigger_on_viewed_then_on_a_project_status(pipeline: Pipeline, read_topic: Any) -> None:
    reader = await read_topic(topics.PROJECT_IMPORTED)
    async with (
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
    ):
        company, tenant = await new_company(pipeline, admin, sim)
        await company.call(
            "PUT", TRIGGERS, 200, {"triggers": [{"kind": "agreement_status_changed", "statuses": ["viewed"]}]}
        )
        await asyncio.sleep(SETTINGS_TTL)
        viewed = await tenant.new_project()
        r = await sim.post(
            f"/_sim/tenants/{tenant.tenant_id}/agreements/{viewed['agreement_id']}/status", json={"status": "viewed"}
        )
        assert r.status_code == 200, r.text
        [message] = await imported(reader, viewed["project_id"])
        assert message["trigger"] == {"kind": "agreement_status_changed", "status": "viewed"}
        # Signing later is not a trigger any more: logged with the reason, no second import.
        await tenant.sign(viewed["agreement_id"])
        messages = await eventually(
            lambda: _has(company, viewed["project_id"], "no trigger matches agreement_status_changed → 'signed'")
        )
        assert messages

        # Now a project status (free text with a space, matched case-insensitively).
        await company.call(
            "PUT", TRIGGERS, 200, {"triggers": [{"kind": "project_status_changed", "statuses": ["project sold"]}]}
        )
        await asyncio.sleep(SETTINGS_TTL)
        sold = await tenant.new_project()
        r = await sim.post(
            f"/_sim/tenants/{tenant.tenant_id}/projects/{sold['project_id']}/status", json={"status": "Project Sold"}
        )
        assert r.status_code == 200, r.text
        [message] = await imported(reader, sold["project_id"])
        assert message["trigger"] == {"kind": "project_status_changed", "status": "project sold"}


async def _has(company: Any, aurora_project_id: str, text: str) -> bool:
    return any(text in m for m in await log_messages(company, aurora_project_id))


async def test_the_right_design_among_several(pipeline: Pipeline, db_pool: asyncpg.Pool[Any], read_topic: Any) -> None:
    reader = await read_topic(topics.PROJECT_IMPORTED)
    async with (
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
    ):
        company, tenant = await new_company(pipeline, admin, sim)
        # Agreement trigger: the agreement's design, whatever else is marked.
        by_agreement = await tenant.new_project(designs=3, sold_design=2)
        agreement = (await tenant.get(f"/agreements/{by_agreement['agreement_id']}"))["agreement"]
        await tenant.sign(by_agreement["agreement_id"])
        [message] = await imported(reader, by_agreement["project_id"])
        assert message["aurora_design_id"] == agreement["design_id"]
        assert (await company.project_of(by_agreement["project_id"]))["aurora_design_id"] == agreement["design_id"]

        # Project-status trigger (no agreement): the design carrying the sold milestone.
        await company.call(
            "PUT", TRIGGERS, 200, {"triggers": [{"kind": "project_status_changed", "statuses": ["Signed Off"]}]}
        )
        await asyncio.sleep(SETTINGS_TTL)
        by_milestone = await tenant.new_project(designs=3, sold_design=1, agreement_status=None)
        r = await sim.post(
            f"/_sim/tenants/{tenant.tenant_id}/projects/{by_milestone['project_id']}/status",
            json={"status": "Signed Off"},
        )
        assert r.status_code == 200, r.text
        [message] = await imported(reader, by_milestone["project_id"])
        assert message["aurora_design_id"] == by_milestone["design_ids"][1]
        rule = await db_pool.fetchval(
            "SELECT details->>'design_rule' FROM integration_log WHERE kind = 'import' AND aurora_project_id = $1",
            by_milestone["project_id"],
        )
        assert rule == "design with the sold milestone"


async def test_a_disconnected_company_imports_nothing_more(
    pipeline: Pipeline, db_pool: asyncpg.Pool[Any], read_topic: Any
) -> None:
    reader = await read_topic(topics.PROJECT_IMPORTED)
    async with (
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
        httpx.AsyncClient(base_url=pipeline.gateway, timeout=30) as gateway,
    ):
        company, tenant = await new_company(pipeline, admin, sim)
        first = await tenant.new_project()
        await tenant.sign(first["agreement_id"])
        await imported(reader, first["project_id"])
        row = await db_pool.fetchrow(
            "SELECT id::text, webhook_generation FROM integrations WHERE company_id = $1::uuid", company.id
        )
        assert row is not None
        await company.call("DELETE", "/v1/integrations/aurora", 200)
        await asyncio.sleep(SETTINGS_TTL)  # the trigger filter's rule cache sees the disconnect within seconds

        # A webhook Aurora had already queued still arrives: answered, logged as ignored, imports nothing.
        later = await tenant.new_project()
        secret = WebhookSigner([SIGNING_KEYS]).secret_for(row["id"], row["webhook_generation"])
        r = await gateway.get(
            f"/webhooks/aurora/{row['id']}",
            params={
                "event": "agreement_status_changed",
                "project_id": later["project_id"],
                "agreement_id": later["agreement_id"],
                "status": "signed",
            },
            headers={webhooks.SECRET_HEADER: webhooks.secret_header_value(row["webhook_generation"], secret)},
        )
        assert r.status_code == 200, r.text
        logged = await eventually(
            lambda: db_pool.fetchval("SELECT message FROM integration_log WHERE event_id = $1", r.json()["event_id"])
        )
        assert logged is not None
        assert "integration is disconnected" in logged
        assert await reader.take(1, timeout=3, where=lambda m: m["aurora_project_id"] == later["project_id"]) == []
        # The imported project stays.
        assert (await company.call("GET", "/v1/projects", 200, aurora_project_id=first["project_id"]))["items"]
