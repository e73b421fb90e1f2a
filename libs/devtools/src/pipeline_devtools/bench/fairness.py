"""6. Fairness under Aurora's real 90/min per key: company A queues hundreds of imports, then company B
sends one. B's import latency behind A is compared with B's latency alone.

A's imports take A's key minutes to fetch; B has its own key, so a fair fetcher serves B at once. B's
samples are few enough that B itself never waits for its own limit.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from pipeline_devtools.bench.latency import observer_for, project_pool
from pipeline_devtools.bench.observer import TopicObserver
from pipeline_devtools.bench.settings import BenchSettings
from pipeline_devtools.bench.stack import BenchStack, SignedProject, say


async def _import_ms(stack: BenchStack, client: httpx.AsyncClient, observer: TopicObserver, p: SignedProject) -> float:
    sent, _, status = await stack.fire(client, p)
    if status != 200:
        raise RuntimeError(f"the gateway answered {status}")
    seen = await observer.imported(p.project_id, timeout=60)
    if seen is None:
        raise RuntimeError("B's import did not arrive within 60 s")
    return round((seen.received - sent) * 1000, 1)


async def run(
    stack: BenchStack, settings: BenchSettings, client: httpx.AsyncClient, real_tenants: list[str]
) -> dict[str, Any]:
    a, b = await stack.connect_companies(client, "fairness", 2, limit_per_minute=settings.aurora_limit_per_minute)
    real_tenants.extend([a.tenant_id, b.tenant_id])
    a_pool = (await project_pool(stack, client, [a], settings.fairness_queue))[: settings.fairness_queue]
    b_pool = await project_pool(stack, client, [b], 2 * settings.fairness_samples)
    observer = observer_for(stack, all_topics=False)
    await observer.start()
    try:
        alone = [await _import_ms(stack, client, observer, p) for p in b_pool[: settings.fairness_samples]]
        say(f"  B alone: {alone} ms; A queues {len(a_pool)} imports …")
        gate = asyncio.Semaphore(50)

        async def fire_a(p: SignedProject) -> int:
            async with gate:
                return (await stack.fire(client, p))[2]

        statuses = await asyncio.gather(*(fire_a(p) for p in a_pool))
        # B goes only once A's imports wait in the fetch queue, or the comparison would be against nothing.
        deadline = time.monotonic() + 20
        queued = 0
        while time.monotonic() < deadline:
            backlog = await stack.backlog([a.integration_id])
            queued = backlog["fetch_pending"]
            if queued >= 0.8 * len(a_pool):
                break
            await asyncio.sleep(0.25)
        behind = []
        for p in b_pool[settings.fairness_samples : 2 * settings.fairness_samples]:
            behind.append(await _import_ms(stack, client, observer, p))
            await asyncio.sleep(0.5)
        a_done = sum(1 for p in a_pool if p.project_id in observer.seen["imported"])
    finally:
        await observer.stop()
    say(f"  B behind A ({queued} of A's imports waiting): {behind} ms")
    return {
        "status": "ok",
        "a_sent": len(a_pool),
        "a_accepted": sum(1 for s in statuses if s == 200),
        "a_queued": queued,
        "a_imported_meanwhile": a_done,
        "b_alone_ms": alone,
        "b_behind_a_ms": behind,
        "target_ms": round(max(alone) + 1000, 1),
    }
