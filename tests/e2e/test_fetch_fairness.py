"""One company's burst never holds back another company's import — through the real processes.

Both companies are made and connected through the admin API; every import starts from an agreement signed in
the emulator, whose webhook reaches the gateway through the subscription the admin registered. Company A gets
300 imports at once under the emulator's real limit of 90 requests/min per key (about 10 fetches' worth);
company B's single import, from the signature to `project.imported`, must complete within the time B alone
takes plus one second (measured first, in the same test): B waits at most for the job in flight, never behind
A's queue.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pytest

from pipeline_common import topics
from tests.e2e.test_import_flow import AuroraTenant, new_company
from tests.fixtures.pipeline import Pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

BURST = 300
MARGIN_SECONDS = 1.0


async def import_time(reader: Any, tenant: AuroraTenant, project: dict[str, Any]) -> float:
    started = time.monotonic()
    await tenant.sign(project["agreement_id"])
    found = await reader.take(1, timeout=60.0, where=lambda m: m["aurora_project_id"] == project["project_id"])
    assert found, f"project {project['project_id']} was never imported"
    return time.monotonic() - started


async def pending_fetches(fetcher: httpx.AsyncClient) -> float:
    """The fetcher's own gauge of waiting jobs (all companies), as an operator reads it."""
    text = (await fetcher.get("/metrics")).text
    match = re.search(r'^fetcher_queue_jobs\{state="pending"\} ([0-9.e+]+)$', text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def test_a_300_event_burst_does_not_hold_back_another_companys_import(
    pipeline: Pipeline, read_topic: Any
) -> None:
    reader = await read_topic(topics.PROJECT_IMPORTED)
    async with (
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
        httpx.AsyncClient(base_url=pipeline.stack.url("fetcher"), timeout=10) as fetcher,
    ):
        busy, busy_tenant = await new_company(pipeline, admin, sim)
        quiet, quiet_tenant = await new_company(pipeline, admin, sim)
        quiet_projects = [await quiet_tenant.new_project(fire_events=False) for _ in range(2)]
        semaphore = asyncio.Semaphore(20)

        async def unsigned() -> dict[str, Any]:
            async with semaphore:
                return await busy_tenant.new_project(fire_events=False)

        burst_projects = await asyncio.gather(*(unsigned() for _ in range(BURST)))

        alone = await import_time(reader, quiet_tenant, quiet_projects[0])

        async def sign(project: dict[str, Any]) -> None:
            async with semaphore:
                await busy_tenant.sign(project["agreement_id"])

        burst_started = time.monotonic()
        await asyncio.gather(*(sign(p) for p in burst_projects))
        # Let A's webhooks arrive, its queue fill and A spend its key's budget, so B really arrives behind a
        # rate-limited burst.
        async with asyncio.timeout(120):
            while True:
                used = (await sim.get("/_sim/requests", params={"tenant_id": busy_tenant.tenant_id})).json()
                # The fetcher spends 75 of the key's 90 calls/min (15 are the admin's headroom).
                if await pending_fetches(fetcher) >= BURST - 20 and len(used["requests"]) >= 70:
                    break
                await asyncio.sleep(0.2)

        during = await import_time(reader, quiet_tenant, quiet_projects[1])
        still_pending = await pending_fetches(fetcher)
        busy_requests = (await sim.get("/_sim/requests", params={"tenant_id": busy_tenant.tenant_id})).json()
        # Stop A's remaining work the way the company would (disconnect): its jobs end without Aurora calls.
        await busy.call("DELETE", "/v1/integrations/aurora", 200)

    print(
        f"\nB alone {alone * 1000:.0f} ms; B behind A's burst {during * 1000:.0f} ms; "
        f"{still_pending:.0f} fetches still pending after {time.monotonic() - burst_started:.1f} s"
    )
    assert still_pending > BURST - 60, "A's burst must still be queued, or this test shows nothing"
    assert during <= alone + MARGIN_SECONDS, f"B waited {during:.2f}s behind A's burst (alone: {alone:.2f}s)"
    assert not [r for r in busy_requests["requests"] if r["status"] == 429], "A's key stayed under Aurora's limit"
    assert quiet.id != busy.id
