"""2. End-to-end latency at light load: webhook sent → `project.imported` consumed, and where it goes.

Webhooks are fired at a fixed rate (10/s) for signed projects, spread over a few companies whose emulator
tenants and fetcher limiter are raised, so no rate-limit wait is counted as latency; the emulator adds no
latency. The per-stage split comes from the observer (see observer.py): each stage's time runs from the
moment its input became readable to the CreateTime of its output; each Kafka hop from CreateTime to readable.
The importer's time is further split at its `ce_time` (set in the import transaction) into the transaction
and the outbox relay's delay.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import httpx

from pipeline_common import topics
from pipeline_devtools.bench.observer import Seen, TopicObserver
from pipeline_devtools.bench.settings import BenchSettings
from pipeline_devtools.bench.stack import BenchStack, Company, SignedProject, say
from pipeline_devtools.bench.stats import summary_ms

SIGNED_SHARE = 0.28  # of the emulator's bulk projects (its BULK_AGREEMENT_MIX); a margin is added


def observer_for(stack: BenchStack, *, all_topics: bool = True) -> TopicObserver:
    chosen = {
        "received": topics.WEBHOOK_RECEIVED,
        "requested": topics.IMPORT_REQUESTED,
        "fetched": topics.PROJECT_FETCHED,
        "imported": topics.PROJECT_IMPORTED,
    }
    if not all_topics:
        chosen = {"imported": topics.PROJECT_IMPORTED}
    return TopicObserver(stack.run.kafka_bootstrap, {k: stack.topic(v) for k, v in chosen.items()})


async def project_pool(
    stack: BenchStack, client: httpx.AsyncClient, companies: list[Company], needed: int
) -> list[SignedProject]:
    """At least `needed` signed projects, interleaved across companies."""
    per_company = math.ceil(needed / len(companies))
    bulk = math.ceil(per_company / SIGNED_SHARE * 1.3) + 10
    lists = await asyncio.gather(
        *(stack.signed_projects(client, c, bulk=bulk, seed=i + 1) for i, c in enumerate(companies))
    )
    pool: list[SignedProject] = []
    for i in range(max(len(x) for x in lists)):
        pool.extend(x[i] for x in lists if i < len(x))
    return pool


def stage_split(sent: float, seen: dict[str, Seen | None]) -> dict[str, float] | None:
    received, requested, fetched, imported = (seen[k] for k in ("received", "requested", "fetched", "imported"))
    if not (received and requested and fetched and imported):
        return None
    split = {
        "gateway": received.created - sent,
        "kafka_to_trigger_filter": received.received - received.created,
        "trigger_filter": requested.created - received.received,
        "kafka_to_fetcher": requested.received - requested.created,
        "fetcher": fetched.created - requested.received,
        "kafka_to_importer": fetched.received - fetched.created,
        "importer": imported.created - fetched.received,
        "kafka_to_consumer": imported.received - imported.created,
    }
    if imported.ce_time is not None:
        split["importer_transaction"] = imported.ce_time - fetched.received
        split["importer_outbox_relay"] = imported.created - imported.ce_time
    return split


async def run(stack: BenchStack, settings: BenchSettings, client: httpx.AsyncClient) -> dict[str, Any]:
    count = max(1, round(settings.latency_rate * settings.latency_seconds))
    companies = await stack.connect_companies(
        client, "latency", settings.latency_companies, limit_per_minute=settings.raised_limit_per_minute
    )
    pool = (await project_pool(stack, client, companies, count))[:count]
    observer = observer_for(stack)
    await observer.start()
    sent: dict[str, tuple[float, float, int]] = {}
    try:
        # One warm-up import per company first: first-use costs (connections, caches) are not light load.
        await asyncio.gather(*(_one(stack, client, observer, p, {}) for p in pool[: len(companies)]))
        pool = pool[len(companies) :]
        say(f"  firing {len(pool)} webhooks at {settings.latency_rate:g}/s …")
        started = time.monotonic()
        tasks = []
        for i, project in enumerate(pool):
            delay = started + i / settings.latency_rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_one(stack, client, observer, project, sent)))
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=45)
    finally:
        await observer.stop()
    e2e: list[float] = []
    acks: list[float] = []
    stages: dict[str, list[float]] = {}
    missing = 0
    for project in pool:
        t_sent, t_ack, status = sent.get(project.project_id, (0.0, 0.0, 0))
        acks.append(t_ack - t_sent)
        seen = {label: observer.seen[label].get(project.project_id) for label in observer.seen}
        imported = seen["imported"]
        if status != 200 or imported is None:
            missing += 1
            continue
        e2e.append(imported.received - t_sent)
        for stage, value in (stage_split(t_sent, seen) or {}).items():
            stages.setdefault(stage, []).append(value)
    result = {
        "status": "ok" if e2e else "failed",
        "events": len(pool),
        "rate_per_second": settings.latency_rate,
        "not_imported": missing,
        "end_to_end": summary_ms(e2e),
        "gateway_ack": summary_ms(acks),
        "stages": {name: summary_ms(values) for name, values in stages.items()},
    }
    e = summary_ms(e2e)
    say(f"  e2e p50 {e['p50_ms']} ms, p95 {e['p95_ms']} ms, p99 {e['p99_ms']} ms, max {e['max_ms']} ms")
    return result


async def _one(
    stack: BenchStack,
    client: httpx.AsyncClient,
    observer: TopicObserver,
    project: SignedProject,
    sent: dict[str, tuple[float, float, int]],
) -> None:
    result = await stack.fire(client, project)
    sent[project.project_id] = result
    if result[2] == 200:
        await observer.imported(project.project_id, timeout=30)
