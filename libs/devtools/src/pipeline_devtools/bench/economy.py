"""5. Aurora economy under Aurora's real 90/min: calls per imported project by endpoint, calls saved by
dropping and coalescing duplicate webhooks, and 429s received.

A few companies each import a few signed projects; every webhook is delivered twice, as Aurora does when a
delivery is retried. Calls are counted by the emulator (`GET /_sim/requests`), not by the client, so a call
the client forgot to count cannot hide. File downloads are listed but, like Aurora's pre-signed storage URLs,
do not count against the limit.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx

from pipeline_devtools.bench.latency import observer_for, project_pool
from pipeline_devtools.bench.settings import BenchSettings
from pipeline_devtools.bench.stack import BenchStack, SignedProject, endpoint_of, say


async def count_429s(stack: BenchStack, client: httpx.AsyncClient, tenants: list[str]) -> int:
    total = 0
    for tenant in tenants:
        total += sum(1 for r in await stack.aurora_requests(client, tenant) if r.get("status") == 429)
    return total


async def calls_by_endpoint(stack: BenchStack, client: httpx.AsyncClient, tenants: list[str]) -> Counter[str]:
    counted: Counter[str] = Counter()
    for tenant in tenants:
        for request in await stack.aurora_requests(client, tenant):
            counted[endpoint_of(request["method"], request["path"])] += 1
    return counted


async def run(
    stack: BenchStack, settings: BenchSettings, client: httpx.AsyncClient, real_tenants: list[str]
) -> dict[str, Any]:
    companies = await stack.connect_companies(
        client, "economy", settings.economy_companies, limit_per_minute=settings.aurora_limit_per_minute
    )
    tenants = [c.tenant_id for c in companies]
    real_tenants.extend(tenants)
    pool = (await project_pool(stack, client, companies, settings.economy_projects * len(companies)))[
        : settings.economy_projects * len(companies)
    ]
    # Setting up companies and projects calls Aurora too (connect verifies, subscriptions): not the imports'.
    before = await calls_by_endpoint(stack, client, tenants)
    observer = observer_for(stack, all_topics=False)
    await observer.start()

    async def twice(project: SignedProject) -> bool:
        first = await stack.fire(client, project)
        await stack.fire(client, project)
        return first[2] == 200 and await observer.imported(project.project_id, timeout=60) is not None

    try:
        say(f"  {len(pool)} signed projects, each webhook delivered twice …")
        outcomes = await asyncio.gather(*(twice(p) for p in pool))
        await asyncio.sleep(2.0)  # the duplicates' own trip through trigger_filter
    finally:
        await observer.stop()
    imported = sum(outcomes)
    calls = await calls_by_endpoint(stack, client, tenants) - before
    counted = sum(n for endpoint, n in calls.items() if "/files/" not in endpoint)
    integrations = [c.integration_id for c in companies]
    db = stack.db()
    dropped = await db.fetchval(
        "SELECT count(*) FROM integration_log WHERE integration_id = ANY($1::uuid[]) AND kind = 'webhook' "
        "AND action = 'skipped'",
        integrations,
    )
    coalesced = await db.fetchval(
        "SELECT count(*) FROM integration_log WHERE integration_id = ANY($1::uuid[]) AND kind = 'coalesced'",
        integrations,
    )
    per_import = round(counted / imported, 2) if imported else None
    throttled = await count_429s(stack, client, tenants)
    say(f"  {per_import} rate-limited Aurora calls per import; {dropped} duplicates dropped, {coalesced} coalesced")
    return {
        "status": "ok" if imported else "failed",
        "companies": len(companies),
        "webhooks_sent": 2 * len(pool),
        "imported": imported,
        "calls_by_endpoint": dict(sorted(calls.items())),
        "rate_limited_calls": counted,
        "calls_per_import": per_import,
        "calls_per_import_by_endpoint": {k: round(v / imported, 2) for k, v in sorted(calls.items())}
        if imported
        else {},
        "duplicates_dropped": int(dropped or 0),
        "coalesced": int(coalesced or 0),
        "calls_saved": round((int(dropped or 0) + int(coalesced or 0)) * (per_import or 0)),
        "aurora_429s": throttled,
    }
