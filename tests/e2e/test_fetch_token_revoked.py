"""Aurora revokes a company's token mid-way: the integration needs attention, imports are parked (not lost),
and once the company replaces the token (admin API) a re-sync completes them — through the real processes.

ImportRequested events are published straight to `aurora.import.requested`, as the trigger filter would.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from admin.security import create_company
from pipeline_common import topics
from pipeline_common.events import derive_event_id
from pipeline_common.secrets import TokenCipher
from tests.e2e.test_fetch_fairness import Connected, publish
from tests.fixtures.pipeline import TOKEN_KEYS, Pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture
async def producer(kafka_bootstrap: str) -> Any:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    yield producer
    await producer.stop()


async def eventually(check: Any, what: str, seconds: float = 30.0) -> None:
    for _ in range(int(seconds / 0.1)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {seconds:.0f}s: {what}")


async def test_revoked_token_parks_imports_and_a_resync_completes_them(
    pipeline: Pipeline, db_pool: asyncpg.Pool[Any], read_topic: Any, producer: AIOKafkaProducer
) -> None:
    fetched = await read_topic(topics.PROJECT_FETCHED)
    async with httpx.AsyncClient(base_url=pipeline.sim, timeout=30.0) as sim:
        tenant = (await sim.post("/_sim/tenants", json={"name": "Revoked Solar"})).json()
        async with db_pool.acquire() as conn:
            company_id, company_key = await create_company(conn, "Revoked Solar")
        integration_id = uuid.uuid4()
        await db_pool.execute(
            "INSERT INTO integrations (id, company_id, aurora_tenant_id, environment, token_ciphertext, token_hint) "
            "VALUES ($1, $2, $3, 'sandbox', $4, 'sk_sand')",
            integration_id,
            company_id,
            tenant["tenant_id"],
            TokenCipher([TOKEN_KEYS]).encrypt(SecretStr(tenant["api_key"])),
        )
        company = Connected(str(company_id), str(integration_id), tenant["tenant_id"], tenant["api_key"])
        projects = [
            (await sim.post(f"/_sim/tenants/{company.tenant_id}/projects", json={"fire_events": False})).json()
            for _ in range(4)
        ]
        requests = [company.request(p["project_id"], p["agreement_id"]) for p in projects]

        # The first import goes through with the valid token.
        await publish(producer, requests[:1])
        assert await fetched.take(1, where=lambda m: m["aurora_project_id"] == projects[0]["project_id"])

        # The company's token is revoked in Aurora; the next imports are parked, the integration flagged.
        assert (await sim.delete(f"/_sim/keys/{tenant['api_key']}")).status_code == 204
        await publish(producer, requests[1:])

        async def all_parked() -> bool:
            parked = await db_pool.fetchval(
                "SELECT count(*) FROM fetch_queue WHERE integration_id = $1 AND status = 'parked'", integration_id
            )
            return bool(parked == 3)

        await eventually(all_parked, "the three imports after the revocation are parked")

    admin = httpx.AsyncClient(base_url=pipeline.admin, headers={"Authorization": f"Bearer {company_key}"})
    async with admin:
        view = (await admin.get("/v1/integrations/aurora")).json()
        assert view["status"] == "needs_attention", view
        log = (await admin.get("/v1/integrations/aurora/log", params={"limit": 50})).json()["items"]
        kinds = [entry["kind"] for entry in log]
        assert "needs_attention" in kinds
        assert kinds.count("parked") == 3
        assert not await fetched.take(1, timeout=0.5, where=lambda m: m["integration_id"] == str(integration_id))

        # The company issues a new key and gives it to the CRM: the parked imports resume by themselves.
        async with httpx.AsyncClient(base_url=pipeline.sim) as sim:
            new_key = (await sim.post(f"/_sim/tenants/{company.tenant_id}/keys", json={"kind": "standard"})).json()[
                "api_key"
            ]
        replaced = await admin.put("/v1/integrations/aurora/token", json={"bearer_token": new_key})
        assert replaced.status_code == 200, replaced.text
        assert replaced.json()["status"] == "active"
        log = (await admin.get("/v1/integrations/aurora/log", params={"kind": "token_replaced"})).json()
        assert "3 parked import(s) resumed" in str(log), log

    parked_ids = {derive_event_id(r.event_id, "fetch") for r in requests[1:]}
    completed = await fetched.take(3, timeout=60.0, where=lambda m: m["event_id"] in parked_ids)
    assert {m["event_id"] for m in completed} == parked_ids, "each parked import completed under its own event id"

    async def nothing_waiting() -> bool:
        waiting = await db_pool.fetchval(
            "SELECT count(*) FROM fetch_queue WHERE integration_id = $1 AND status IN ('parked', 'pending')",
            integration_id,
        )
        return bool(waiting == 0)

    # The re-sync requests themselves are fetched too (or merged into the resumed imports).
    await eventually(nothing_waiting, "no import of the company is left parked or pending")
