"""The backfill walk as fetch-queue work: the company's lease holder walks Aurora through the same limiter as
its imports, queues exactly what the triggers would have imported, never twice, and never ahead of the
company's live events. Real Postgres, the emulator over HTTP, the real scheduler; ProjectFetched is recorded
instead of published (the importer's part is covered end to end)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from fetcher.backfill_scan import BackfillScanner, import_event_id
from fetcher.credentials import CredentialStore
from fetcher.fetch import Fetcher
from fetcher.queue import FetchJob, FetchQueue, Leases
from fetcher.scheduler import Scheduler
from fetcher.settings import FetcherSettings
from fetcher.snapshot import SnapshotReader
from pipeline_common import topics
from pipeline_common.aurora import AuroraClient, AuroraSettings, RateLimiter
from pipeline_common.vocabulary import FetchJobKind, FetchPriority
from tests.fetcher.conftest import CIPHER, Company, add_company
from tests.fetcher.test_fetch_against_emulator import RecordingBroker
from tests.fixtures.aurora_sim import AuroraSim

pytestmark = [pytest.mark.postgres]

# The emulator's limit for these tenants (the fetcher takes its share of it, the admin keeps the rest): high
# enough for a quick test, low enough that a limiter that did not see every call would be answered 429.
SIM_LIMIT = 240


@dataclass
class ScanRig:
    pool: asyncpg.Pool[Any]
    queue: FetchQueue
    broker: RecordingBroker
    sim: AuroraSim
    scheduler: Scheduler
    order: list[FetchJob]

    async def company(self, triggers: list[tuple[str, list[str]]]) -> tuple[Company, str]:
        tenant = self.sim.create_tenant("Backfill Scan Solar", rate_limit_per_minute=SIM_LIMIT)
        company = await add_company(self.pool, tenant_id=tenant.tenant_id, api_key=tenant.api_key)
        for kind, statuses in triggers:
            await self.pool.execute(
                "INSERT INTO triggers (id, integration_id, kind, statuses) "
                "VALUES (gen_random_uuid(), $1::uuid, $2, $3)",
                company.integration_id,
                kind,
                statuses,
            )
        return company, tenant.tenant_id

    async def start_backfill(self, company: Company, params: dict[str, Any] | None = None) -> uuid.UUID:
        """What the admin's POST …/backfill does: the row and its scan job, in one transaction."""
        backfill_id = uuid.uuid4()
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO backfills (id, integration_id, params) VALUES ($1, $2::uuid, $3)",
                backfill_id,
                company.integration_id,
                params or {},
            )
            await conn.execute(
                "INSERT INTO fetch_queue (integration_id, company_id, aurora_project_id, event_id, payload, "
                "priority, kind) VALUES ($1::uuid, $2::uuid, $3, $4, $5, 1, 'backfill_scan')",
                company.integration_id,
                company.company_id,
                f"backfill:{backfill_id}",
                f"backfill-scan:{backfill_id}",
                {"backfill_id": str(backfill_id)},
            )
        self.scheduler.wake()
        return backfill_id

    async def backfill(self, backfill_id: uuid.UUID) -> asyncpg.Record:
        row = await self.pool.fetchrow("SELECT * FROM backfill_progress WHERE id = $1", backfill_id)
        assert row is not None
        return row

    async def settled(self, backfill_id: uuid.UUID, within: float = 90.0) -> asyncpg.Record:
        """The walk is over and no job of the company is waiting or running."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            row = await self.backfill(backfill_id)
            busy = await self.pool.fetchval(
                "SELECT count(*) FROM fetch_queue WHERE integration_id = $1 AND status IN ('pending', 'in_progress')",
                row["integration_id"],
            )
            if (row["scan_finished_at"] is not None or row["status"] == "failed") and busy == 0:
                return row
            await asyncio.sleep(0.1)
        raise AssertionError(f"backfill not settled within {within} s: {dict(await self.backfill(backfill_id))}")

    def fetched(self, tenant_id: str) -> dict[str, dict[str, Any]]:
        return {
            m["body"]["aurora_project_id"]: m["body"]
            for m in self.broker.on(topics.PROJECT_FETCHED)
            if m["body"]["aurora_tenant_id"] == tenant_id
        }


@pytest.fixture
async def scan_rig(fetcher_pool: asyncpg.Pool[Any], aurora_sim: AuroraSim) -> AsyncIterator[ScanRig]:
    await fetcher_pool.execute("DELETE FROM fetch_queue")
    await fetcher_pool.execute("DELETE FROM fetch_leases")
    settings = FetcherSettings(max_attempts=3, retry_base_delay=0.05, backfill_page_size=20, poll_interval_seconds=0.2)
    aurora_settings = AuroraSettings(base_url=aurora_sim.base_url, max_retries=2, requests_per_minute=SIM_LIMIT)
    aurora = AuroraClient(aurora_settings, limiter=RateLimiter(aurora_settings.fetcher_budget_per_minute))
    queue = FetchQueue(fetcher_pool)
    broker = RecordingBroker()
    owner = f"scan-test-{uuid.uuid4().hex[:6]}"
    credentials = CredentialStore(fetcher_pool, CIPHER)
    fetcher = Fetcher(
        pool=fetcher_pool,
        broker=broker,
        queue=queue,
        credentials=credentials,
        reader=SnapshotReader(aurora, fetcher_pool, settings.max_document_bytes),
        settings=settings,
        owner=owner,
    )
    scanner = BackfillScanner(
        pool=fetcher_pool, queue=queue, credentials=credentials, aurora=aurora, settings=settings, owner=owner
    )
    order: list[FetchJob] = []

    async def run_job(job: FetchJob) -> None:
        order.append(job)
        await (scanner.run(job) if job.kind == FetchJobKind.BACKFILL_SCAN else fetcher.run(job))

    scheduler = Scheduler(
        queue=queue, leases=Leases(fetcher_pool, owner, settings.lease_ttl_seconds), run_job=run_job, settings=settings
    )
    scheduler.start()
    try:
        yield ScanRig(fetcher_pool, queue, broker, aurora_sim, scheduler, order)
    finally:
        await scheduler.stop()
        await aurora.aclose()


async def test_a_backfill_of_50_projects_queues_exactly_the_sold_ones_once_without_a_429(scan_rig: ScanRig) -> None:
    company, tenant_id = await scan_rig.company([("agreement_status_changed", ["signed"])])
    projects = scan_rig.sim.bulk_projects(tenant_id, 50, seed=5, fire_events=False)
    sold = {p["project_id"] for p in projects if {"sold", "installed"} & set(p.get("milestones") or [])}
    states = {p.get("agreement_status") for p in projects}
    assert 0 < len(sold) < 50, len(sold)
    assert len(states) >= 3, states

    first = await scan_rig.start_backfill(company)
    row = await scan_rig.settled(first)
    assert row["status"] == "running", dict(row)
    assert row["error"] is None
    assert (row["scanned"], row["found"], row["queued"], row["skipped"]) == (50, len(sold), len(sold), 0)
    fetched = scan_rig.fetched(tenant_id)
    assert set(fetched) == sold, "exactly the projects with a sold design are imported"
    for project_id, event in fetched.items():
        assert event["reason"] == "backfill"
        assert event["backfill_id"] == str(first)
        assert event["causation_id"] == import_event_id(company.integration_id, project_id)
    scan_job = await scan_rig.pool.fetchrow(
        "SELECT status, last_error FROM fetch_queue WHERE event_id = $1", f"backfill-scan:{first}"
    )
    assert scan_job is not None
    assert scan_job["status"] == "done"

    # Running it again queues nothing: every import's event id is already known.
    again = await scan_rig.start_backfill(company)
    second = await scan_rig.settled(again)
    assert (second["scanned"], second["found"], second["queued"]) == (50, len(sold), 0), dict(second)
    assert len(scan_rig.broker.on(topics.PROJECT_FETCHED)) == len(sold), "nothing fetched twice"

    statuses = [r["status"] for r in scan_rig.sim.requests(tenant_id=tenant_id)]
    assert statuses
    assert 429 not in statuses, "the key never went over the limit"


async def test_projects_already_in_the_crm_are_skipped_without_a_designs_call(scan_rig: ScanRig) -> None:
    company, tenant_id = await scan_rig.company(
        [("agreement_status_changed", ["signed"]), ("project_status_changed", ["permit submitted"])]
    )
    linked = scan_rig.sim.create_project(tenant_id, designs=2, sold_design=1, agreement_status="signed")
    permit = scan_rig.sim.create_project(tenant_id, project={"status": "Permit Submitted"}, agreement_status="sent")
    viewed = scan_rig.sim.create_project(tenant_id, agreement_status="viewed")
    sold = scan_rig.sim.create_project(tenant_id, designs=2, sold_design=1, agreement_status="signed")
    await scan_rig.pool.execute(
        "INSERT INTO projects (id, company_id, title, source, aurora_project_id) VALUES ($1, $2::uuid, 't', "
        "'aurora', $3)",
        uuid.uuid4(),
        company.company_id,
        linked.project_id,
    )
    scan_rig.sim.clear_requests()
    backfill_id = await scan_rig.start_backfill(company)
    row = await scan_rig.settled(backfill_id)
    assert (row["scanned"], row["found"], row["queued"], row["skipped"]) == (4, 3, 2, 1), dict(row)
    fetched = scan_rig.fetched(tenant_id)
    assert set(fetched) == {permit.project_id, sold.project_id}
    assert fetched[sold.project_id]["aurora_design_id"] == sold.design_ids[1]
    assert fetched[permit.project_id]["trigger"]["status"] == "project status Permit Submitted"
    design_lists = {
        r["path"].split("/")[-2] for r in scan_rig.sim.requests(tenant_id=tenant_id) if r["path"].endswith("/designs")
    }
    assert linked.project_id not in design_lists, "a linked project costs no designs call"
    assert viewed.project_id in design_lists


async def test_live_events_of_the_company_are_not_starved_by_its_backfill(scan_rig: ScanRig) -> None:
    company, tenant_id = await scan_rig.company([("agreement_status_changed", ["signed"])])
    scan_rig.sim.bulk_projects(tenant_id, 40, seed=7, fire_events=False)
    live = scan_rig.sim.create_project(tenant_id, agreement_status="signed", fire_events=False)
    backfill_id = await scan_rig.start_backfill(company)

    # Once the walk is under way, a live event arrives; it must be the company's next job.
    deadline = time.monotonic() + 30
    while (await scan_rig.backfill(backfill_id))["queued"] < 2:
        assert time.monotonic() < deadline, "the walk did not get going"
        await asyncio.sleep(0.05)
    arrived_at = len(scan_rig.order)
    request = company.request(live.project_id, agreement_id=live.agreement_id)
    await scan_rig.queue.enqueue(request)
    scan_rig.scheduler.wake()
    row = await scan_rig.settled(backfill_id)
    assert row["scan_finished_at"] is not None

    positions = [i for i, job in enumerate(scan_rig.order) if job.kind == "import" and job.event_id == request.event_id]
    assert positions, "the live import ran"
    # At most the job in flight when it arrived (plus one claimed in the same instant) went before it.
    assert positions[0] - arrived_at <= 2, scan_rig.order[arrived_at : positions[0] + 1]
    assert (
        scan_rig.order[-1].kind == FetchJobKind.BACKFILL_SCAN or scan_rig.order[-1].priority == FetchPriority.BACKFILL
    )
    statuses = [r["status"] for r in scan_rig.sim.requests(tenant_id=tenant_id)]
    assert 429 not in statuses
