"""Every webhook the gateway accepted ends as exactly one of imported, skipped with a reason, or
dead-lettered with a reason — whatever fails along the way (issue 6's promise), against the real broker,
database, emulator and service processes. Loopback only, bounded in count and time.

Each scenario fires a steady load of a few hundred webhooks across six companies (signed agreements, plus
Aurora-style duplicates and late `viewed` redeliveries), injects its fault mid-stream, waits for the pipeline
to settle, and checks the ledger exactly: nothing lost, nothing duplicated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from pipeline_common import topics
from tests.faults.accounting import dead_letters, run_scenario
from tests.fixtures.infra import Infra
from tests.fixtures.pipeline import Pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def restart_stage(pipeline: Pipeline, name: str) -> Callable[[], Awaitable[None]]:
    async def fault() -> None:
        await asyncio.to_thread(pipeline.stack.restart, name, kill=True)

    return fault


@pytest.mark.parametrize("stage", ["gateway", "trigger_filter", "fetcher", "importer"])
async def test_sigkill_a_stage_mid_stream(
    stage: str, pipeline: Pipeline, db_pool: asyncpg.Pool[Any], kafka_bootstrap: str
) -> None:
    ledger = await run_scenario(f"kill-{stage}", pipeline, db_pool, kafka_bootstrap, restart_stage(pipeline, stage))
    assert ledger.dead_lettered == 0


async def test_kafka_broker_restart(
    pipeline: Pipeline, db_pool: asyncpg.Pool[Any], kafka_bootstrap: str, infra: Infra
) -> None:
    async def fault() -> None:
        await asyncio.to_thread(infra.restart, "kafka")

    ledger = await run_scenario("restart-kafka", pipeline, db_pool, kafka_bootstrap, fault)
    assert ledger.dead_lettered == 0


async def test_postgres_restart(
    pipeline: Pipeline, db_pool: asyncpg.Pool[Any], kafka_bootstrap: str, infra: Infra
) -> None:
    async def fault() -> None:
        await asyncio.to_thread(infra.restart, "postgres")
        # The test's own pool saw the restart too: drop its dead connections.
        await db_pool.expire_connections()

    ledger = await run_scenario("restart-postgres", pipeline, db_pool, kafka_bootstrap, fault)
    assert ledger.dead_lettered == 0


async def test_aurora_429_storms_5xx_and_timeouts(
    pipeline: Pipeline, db_pool: asyncpg.Pool[Any], kafka_bootstrap: str
) -> None:
    async with httpx.AsyncClient(base_url=pipeline.sim) as sim:

        async def fault() -> None:
            r = await sim.post(
                "/_sim/faults",
                json={
                    "error_rate": 0.15,
                    "rate_limit_storm": 0.1,
                    "storm_retry_after": 1,
                    "timeout_rate": 0.03,
                    "timeout_seconds": 2,
                    "reset_rate": 0.03,
                },
            )
            assert r.status_code < 300, r.text

        try:
            await run_scenario("aurora-faults", pipeline, db_pool, kafka_bootstrap, fault, fault_after=0.0)
        finally:
            await sim.delete("/_sim/faults")


async def test_poison_messages_are_dead_lettered_and_do_not_block(
    pipeline: Pipeline, db_pool: asyncpg.Pool[Any], kafka_bootstrap: str
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    poison = b"\xff not json {"

    async def fault() -> None:
        for topic in topics.CONSUMED:
            await producer.send_and_wait(topic, poison, key=b"poison", headers=[("ce_id", b"poison-" + topic.encode())])

    try:
        await run_scenario("poison", pipeline, db_pool, kafka_bootstrap, fault)
    finally:
        await producer.stop()
    found = []
    for topic in topics.CONSUMED:
        from pipeline_devtools.ops.kafka_view import scan

        async for record in scan(kafka_bootstrap, topics.dlq_topic(topic)):
            if record.value == poison:
                found.append((topic, record.headers.get("x-error-code"), record.headers.get("x-stage")))
    assert sorted(t for t, _, _ in found) == sorted(topics.CONSUMED)
    assert all(code == "invalid_message" for _, code, _ in found)
    assert await dead_letters(kafka_bootstrap, set()) == {}
