"""One company's burst never holds back another company's import — through the real processes.

Company A gets 300 imports at once under the emulator's real limit of 90 requests/min per key (about 10
fetches' worth); company B's single import must still complete within its own fetch time plus a small
margin. B alone is measured first in the same test; the bound is deliberately generous (timings belong in
`make bench`): it guards against starvation, where B would wait minutes behind A's queue.

ImportRequested events are published straight to `aurora.import.requested`, as the trigger filter would,
so the test measures the fetch stage and not webhook delivery.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from pipeline_common import topics
from pipeline_common.events import ImportReason, ImportRequested, TriggerRef, cloudevent_headers, utcnow
from pipeline_common.secrets import TokenCipher
from tests.fixtures.pipeline import TOKEN_KEYS, Pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

BURST = 300
MARGIN_SECONDS = 5.0


@dataclass(frozen=True)
class Connected:
    company_id: str
    integration_id: str
    tenant_id: str
    api_key: str

    def request(self, project_id: str, agreement_id: str | None = None) -> ImportRequested:
        event_id = str(uuid.uuid4())
        return ImportRequested(
            event_id=event_id,
            causation_id=event_id,
            company_id=self.company_id,
            integration_id=self.integration_id,
            aurora_tenant_id=self.tenant_id,
            aurora_project_id=project_id,
            agreement_id=agreement_id,
            reason=ImportReason.TRIGGER,
            trigger=TriggerRef(kind="agreement_status_changed", status="signed"),
            received_at=utcnow(),
        )


async def connect(pool: asyncpg.Pool[Any], sim: httpx.AsyncClient, name: str) -> Connected:
    tenant = (await sim.post("/_sim/tenants", json={"name": name})).json()
    company_id, integration_id = uuid.uuid4(), uuid.uuid4()
    await pool.execute("INSERT INTO companies (id, name) VALUES ($1, $2)", company_id, name)
    await pool.execute(
        "INSERT INTO integrations (id, company_id, aurora_tenant_id, environment, token_ciphertext, token_hint) "
        "VALUES ($1, $2, $3, 'sandbox', $4, 'sk_sand')",
        integration_id,
        company_id,
        tenant["tenant_id"],
        TokenCipher([TOKEN_KEYS]).encrypt(SecretStr(tenant["api_key"])),
    )
    return Connected(str(company_id), str(integration_id), tenant["tenant_id"], tenant["api_key"])


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
    await producer.start()
    yield producer
    await producer.stop()


async def publish(producer: AIOKafkaProducer, requests: list[ImportRequested]) -> None:
    sends = []
    for request in requests:
        headers = cloudevent_headers(
            request, event_id=request.event_id, source="/tests/fetch", subject=request.aurora_project_id
        )
        sends.append(
            await producer.send(
                topics.IMPORT_REQUESTED,
                request.to_bytes(),
                key=topics.message_key(request.integration_id, request.aurora_project_id),
                headers=[(k, v.encode()) for k, v in headers.items()],
            )
        )
    await asyncio.gather(*sends)


async def fetch_time(producer: AIOKafkaProducer, fetched: Any, request: ImportRequested) -> float:
    started = time.monotonic()
    await publish(producer, [request])
    found = await fetched.take(1, timeout=60.0, where=lambda m: m["aurora_project_id"] == request.aurora_project_id)
    assert found, f"project {request.aurora_project_id} was never fetched"
    return time.monotonic() - started


async def queue_wait_ms(pool: asyncpg.Pool[Any], request: ImportRequested) -> float:
    """From the Kafka handler's insert to a worker's claim: what the queue adds to a fetch."""
    value = await pool.fetchval(
        "SELECT extract(epoch FROM claimed_at - created_at) * 1000 FROM fetch_queue WHERE event_id = $1",
        request.event_id,
    )
    return float(value)


async def test_a_300_event_burst_does_not_hold_back_another_companys_import(
    pipeline: Pipeline, db_pool: asyncpg.Pool[Any], read_topic: Any, producer: AIOKafkaProducer
) -> None:
    fetched = await read_topic(topics.PROJECT_FETCHED)
    async with httpx.AsyncClient(base_url=pipeline.sim, timeout=30.0) as sim:
        busy = await connect(db_pool, sim, "Burst Solar")
        quiet = await connect(db_pool, sim, "Quiet Solar")
        quiet_projects = [
            (await sim.post(f"/_sim/tenants/{quiet.tenant_id}/projects", json={"fire_events": False})).json()
            for _ in range(2)
        ]
        burst_projects = (
            await sim.post(f"/_sim/tenants/{busy.tenant_id}/projects/bulk", json={"count": BURST, "seed": 3})
        ).json()["projects"]

        alone_request = quiet.request(quiet_projects[0]["project_id"])
        alone = await fetch_time(producer, fetched, alone_request)

        burst_started = time.monotonic()
        await publish(producer, [busy.request(p["project_id"], p["agreement_id"]) for p in burst_projects])
        # Let A's queue fill and A spend its key's budget, so B really arrives behind a rate-limited burst.
        async with asyncio.timeout(60):
            while True:
                queued = await db_pool.fetchval(
                    "SELECT count(*) FROM fetch_queue WHERE integration_id = $1::uuid", busy.integration_id
                )
                used = len((await sim.get("/_sim/requests", params={"tenant_id": busy.tenant_id})).json()["requests"])
                # The fetcher spends 75 of the key's 90 calls/min (15 are the admin's headroom).
                if queued >= BURST and used >= 70:
                    break
                await asyncio.sleep(0.1)

        during_request = quiet.request(quiet_projects[1]["project_id"])
        during = await fetch_time(producer, fetched, during_request)

        busy_requests = (await sim.get("/_sim/requests", params={"tenant_id": busy.tenant_id})).json()["requests"]
        pending = await db_pool.fetchval(
            "SELECT count(*) FROM fetch_queue WHERE integration_id = $1::uuid AND status = 'pending'",
            busy.integration_id,
        )
        # Stop A's remaining work so later tests do not share the fetcher with a 30-minute backlog.
        await db_pool.execute(
            "DELETE FROM fetch_queue WHERE integration_id = $1::uuid AND status = 'pending'", busy.integration_id
        )

    # The figures a reader of the test output wants (pytest -s).
    waits = [await queue_wait_ms(db_pool, r) for r in (alone_request, during_request)]
    print(
        f"\nB alone {alone * 1000:.0f} ms (queue wait {waits[0]:.1f} ms); "
        f"B behind A's burst {during * 1000:.0f} ms (queue wait {waits[1]:.1f} ms); "
        f"A: {pending} of {BURST} still queued after {time.monotonic() - burst_started:.1f} s"
    )
    assert pending > BURST - 60, "A's burst must still be queued, or this test shows nothing"
    assert during <= alone + MARGIN_SECONDS, f"B waited {during:.2f}s behind A's burst (alone: {alone:.2f}s)"
    assert not [r for r in busy_requests if r["status"] == 429], "A's key stayed under Aurora's limit"
