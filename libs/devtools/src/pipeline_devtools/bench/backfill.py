"""7. Backfill speed for one company under Aurora's real 90/min, as a share of what that limit allows.

The theoretical maximum is 90 / (rate-limited Aurora calls one import needs) imports per minute, the calls
counted by the emulator over the phase. The backfill's own walk (listing projects and each project's designs
to find the sold ones) is overhead it must fit in the same budget: it counts against the share, not in the
maximum (the JSON gives the maximum counting it too).
The phase runs for `backfill_seconds` from the `POST …/backfill`; a window shorter than the limit's 60 s
window lets the first minute's budget arrive at once, which overstates the rate (the quick run says so).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from pipeline_devtools.bench.economy import calls_by_endpoint
from pipeline_devtools.bench.settings import BenchSettings
from pipeline_devtools.bench.stack import BenchStack, say

# The backfill's own scanning: it lists projects and each project's designs to find the sold ones.
WALK_ENDPOINTS = frozenset({"GET /tenants/{id}/projects", "GET /tenants/{id}/projects/{id}/designs"})


async def run(
    stack: BenchStack, settings: BenchSettings, client: httpx.AsyncClient, real_tenants: list[str]
) -> dict[str, Any]:
    (company,) = await stack.connect_companies(client, "backfill", 1, limit_per_minute=settings.aurora_limit_per_minute)
    real_tenants.append(company.tenant_id)
    sim = stack.url("aurora_sim")
    created = await client.post(
        f"{sim}/_sim/tenants/{company.tenant_id}/projects/bulk",
        json={"count": settings.backfill_projects, "seed": 3, "fire_events": False},
        timeout=120,
    )
    created.raise_for_status()
    importable = sum(1 for p in created.json()["projects"] if {"sold", "installed"} & set(p.get("milestones") or []))
    # Connecting used the key (verification, subscriptions): let that minute pass out of the count.
    before = await calls_by_endpoint(stack, client, [company.tenant_id])
    auth = {"Authorization": f"Bearer {company.api_key}"}
    admin = stack.url("admin")
    response = await client.post(f"{admin}/v1/integrations/aurora/backfill", json={}, headers=auth)
    response.raise_for_status()
    started = time.monotonic()
    backfill_id = response.json()["id"]
    progress: list[dict[str, Any]] = []
    state: dict[str, Any] = {}
    while time.monotonic() - started < settings.backfill_seconds:
        await asyncio.sleep(2.0)
        state = (await client.get(f"{admin}/v1/integrations/aurora/backfill/{backfill_id}", headers=auth)).json()
        elapsed = time.monotonic() - started
        progress.append({"t": round(elapsed, 1), **{k: state.get(k) for k in ("scanned", "queued", "imported")}})
        if len(progress) % 10 == 0:
            say(f"  t={elapsed:5.1f}s " + ", ".join(f"{k} {state.get(k)}" for k in ("scanned", "queued", "imported")))
        finished = state.get("imported", 0) + state.get("skipped", 0) + state.get("failed", 0)
        if state.get("status") != "running" and state.get("queued") == finished:
            break
    elapsed = time.monotonic() - started
    calls = await calls_by_endpoint(stack, client, [company.tenant_id]) - before
    limited = sum(n for endpoint, n in calls.items() if "/files/" not in endpoint)
    walk = sum(n for endpoint, n in calls.items() if endpoint in WALK_ENDPOINTS)
    imported = int(state.get("imported") or 0)
    per_import = (limited - walk) / imported if imported else None
    per_minute = imported / elapsed * 60
    limit = settings.aurora_limit_per_minute
    theoretical = limit / per_import if per_import else None
    with_walk = limit / (limited / imported) if imported else None
    share = per_minute / theoretical if theoretical else None
    say(
        f"  {imported} imported in {elapsed:.0f} s = {per_minute:.1f}/min; {per_import or 0:.2f} calls each "
        f"→ max {theoretical or 0:.1f}/min (walk: {walk} calls for {state.get('scanned')} projects scanned)"
    )
    return {
        "status": "ok" if imported else "failed",
        "projects": settings.backfill_projects,
        "importable": importable,
        "window_seconds": round(elapsed, 1),
        "window_shorter_than_rate_window": elapsed < 60,
        "imported": imported,
        "backfill": {
            k: state.get(k) for k in ("status", "scanned", "found", "queued", "imported", "skipped", "failed")
        },
        "calls_by_endpoint": dict(sorted(calls.items())),
        "import_calls_per_import": round(per_import, 2) if per_import else None,
        "walk_calls": walk,
        "theoretical_per_minute_counting_walk": round(with_walk, 2) if with_walk else None,
        "imports_per_minute": round(per_minute, 2),
        "theoretical_per_minute": round(theoretical, 2) if theoretical else None,
        "share_of_max": round(share, 3) if share is not None else None,
        "progress": progress,
    }
