"""The fetch queue against real Postgres: coalescing, idempotency, priorities, parking, leases, fairness."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg

from fetcher.queue import Enqueued, FetchJob, FetchQueue, Leases
from fetcher.scheduler import Scheduler
from fetcher.settings import FetcherSettings
from pipeline_common.events import ImportReason, ImportRequested, TriggerRef
from tests.fetcher.conftest import Company, add_company


async def job_row(pool: asyncpg.Pool[Any], job_id: int) -> asyncpg.Record:
    row = await pool.fetchrow("SELECT * FROM fetch_queue WHERE id = $1", job_id)
    assert row is not None
    return row


async def test_several_pending_events_for_one_project_become_one_fetch(queue: FetchQueue, company: Company) -> None:
    first = company.request("p-1", agreement_id="agr-1", design_id="d-1")
    second = company.request("p-1", trigger=TriggerRef(kind="project_status_changed", status="Signed"))
    third = company.request("p-1", reason=ImportReason.RESYNC, trigger=TriggerRef(kind="resync"))

    result, job_id = await queue.enqueue(first)
    assert result is Enqueued.QUEUED
    assert await queue.enqueue(second) == (Enqueued.COALESCED, job_id)
    assert await queue.enqueue(third) == (Enqueued.COALESCED, job_id)

    row = await job_row(queue.pool, job_id)
    assert row["event_id"] == first.event_id
    assert row["coalesced_event_ids"] == [second.event_id, third.event_id]
    merged = ImportRequested.model_validate(row["payload"])
    # The newest trigger information, the first event's identity, and what any event needed read.
    assert merged.trigger == TriggerRef(kind="resync")
    assert merged.reason is ImportReason.RESYNC
    assert merged.event_id == first.event_id
    assert merged.received_at == first.received_at
    assert merged.agreement_id == "agr-1"
    assert merged.design_id == "d-1"

    job = await queue.claim(company.integration_id, "owner-a")
    assert job is not None
    assert job.id == job_id
    assert job.event_ids == (first.event_id, second.event_id, third.event_id)
    assert await queue.claim(company.integration_id, "owner-a") is None, "one fetch for all three events"
    assert await queue.complete(job, "owner-a")


async def test_enqueue_is_idempotent_on_the_event_id(queue: FetchQueue, company: Company) -> None:
    first, second = company.request("p-2"), company.request("p-2")
    _, job_id = await queue.enqueue(first)
    await queue.enqueue(second)
    assert await queue.enqueue(first) == (Enqueued.DUPLICATE, job_id)
    assert await queue.enqueue(second) == (Enqueued.DUPLICATE, job_id), "a merged event redelivered"

    job = await queue.claim(company.integration_id, "owner-a")
    assert job is not None
    await queue.complete(job, "owner-a")
    assert await queue.enqueue(first) == (Enqueued.DUPLICATE, job_id), "redelivered after the fetch"
    count = await queue.pool.fetchval(
        "SELECT count(*) FROM fetch_queue WHERE integration_id = $1::uuid", company.integration_id
    )
    assert count == 1


async def test_only_a_replay_runs_a_failed_job_again(queue: FetchQueue, company: Company) -> None:
    request = company.request("p-replay")
    _, job_id = await queue.enqueue(request)
    job = await queue.claim(company.integration_id, "owner-a")
    assert job is not None
    await queue.fail(job, "owner-a", "aurora_403: not permitted")

    assert await queue.enqueue(request) == (Enqueued.DUPLICATE, job_id), "a redelivery is not a replay"
    assert await queue.enqueue(request, replay=True) == (Enqueued.REPLAYED, job_id)
    row = await job_row(queue.pool, job_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 0, None)
    assert await queue.enqueue(request, replay=True) == (Enqueued.DUPLICATE, job_id), "already re-running"

    rerun = await queue.claim(company.integration_id, "owner-a")
    assert rerun is not None
    assert rerun.id == job_id


async def test_a_replay_joins_a_job_already_waiting_for_the_project(queue: FetchQueue, company: Company) -> None:
    failed_request = company.request("p-replay-2")
    _, failed_id = await queue.enqueue(failed_request)
    job = await queue.claim(company.integration_id, "owner-a")
    assert job is not None
    await queue.fail(job, "owner-a", "aurora_403: not permitted")
    _, waiting_id = await queue.enqueue(company.request("p-replay-2"))

    assert await queue.enqueue(failed_request, replay=True) == (Enqueued.COALESCED, waiting_id)
    assert failed_request.event_id in (await job_row(queue.pool, waiting_id))["coalesced_event_ids"]
    assert (await job_row(queue.pool, failed_id))["status"] == "done"
    assert await queue.enqueue(failed_request, replay=True) == (Enqueued.DUPLICATE, waiting_id)


async def test_an_event_for_an_unknown_integration_is_not_queued(queue: FetchQueue, company: Company) -> None:
    stray = Company(company.company_id, str(uuid.uuid4()), company.tenant_id)
    assert await queue.enqueue(stray.request("p-x")) == (Enqueued.UNKNOWN_INTEGRATION, 0)


async def test_an_event_arriving_during_a_fetch_is_fetched_again_afterwards(
    queue: FetchQueue, company: Company
) -> None:
    await queue.enqueue(company.request("p-3"))
    running = await queue.claim(company.integration_id, "owner-a")
    assert running is not None
    later = company.request("p-3")
    result, later_id = await queue.enqueue(later)
    assert result is Enqueued.QUEUED, "the running fetch may have read the state before this change"

    # The running fetch fails transiently: it folds into the waiting job instead of being fetched twice.
    await queue.retry_later(running, "owner-a", 0.0, "HTTP 503")
    assert (await job_row(queue.pool, running.id))["status"] == "done"
    waiting = await job_row(queue.pool, later_id)
    assert waiting["status"] == "pending"
    assert waiting["coalesced_event_ids"] == [running.event_id]


async def test_live_events_are_claimed_before_backfill(queue: FetchQueue, company: Company) -> None:
    await queue.enqueue(company.request("p-b1", reason=ImportReason.BACKFILL, trigger=TriggerRef(kind="backfill")))
    await queue.enqueue(company.request("p-b2", reason=ImportReason.BACKFILL, trigger=TriggerRef(kind="backfill")))
    live = company.request("p-live")
    await queue.enqueue(live)
    job = await queue.claim(company.integration_id, "owner-a")
    assert job is not None
    assert job.event_id == live.event_id


async def test_retry_later_waits_for_not_before(queue: FetchQueue, company: Company) -> None:
    await queue.enqueue(company.request("p-4"))
    job = await queue.claim(company.integration_id, "owner-a")
    assert job is not None
    assert job.attempts == 1
    await queue.retry_later(job, "owner-a", 0.3, "HTTP 502")
    assert await queue.claim(company.integration_id, "owner-a") is None
    due_in = await queue.next_due_in()
    assert due_in is not None
    assert 0 < due_in <= 0.3
    await asyncio.sleep(0.35)
    again = await queue.claim(company.integration_id, "owner-a")
    assert again is not None
    assert again.id == job.id
    assert again.attempts == 2


async def test_a_parked_import_resumes_on_resync_or_resume_parked(queue: FetchQueue, company: Company) -> None:
    first, second = company.request("p-5"), company.request("p-6")
    await queue.enqueue(first)
    await queue.enqueue(second)
    for _ in range(2):
        job = await queue.claim(company.integration_id, "owner-a")
        assert job is not None
        await queue.park(job, "owner-a", "token rejected")
    assert await queue.claim(company.integration_id, "owner-a") is None, "parked jobs are not claimed"

    # The admin's per-project re-sync sends a new event for the project: it merges into the parked job,
    # which resumes (with its own identity, the re-sync riding along).
    resync = company.request("p-5")
    merged, _ = await queue.enqueue(resync)
    assert merged is Enqueued.COALESCED
    job = await queue.claim(company.integration_id, "owner-a")
    assert job is not None
    assert job.event_id == first.event_id
    assert resync.event_id in job.coalesced_event_ids
    assert job.attempts == 1
    await queue.complete(job, "owner-a")
    # Once it ran, a redelivery of the parked event is recognised by its event id.
    assert (await queue.enqueue(first))[0] is Enqueued.DUPLICATE

    # Or every parked import of the integration at once.
    assert await queue.resume_parked(company.integration_id) == 1
    job = await queue.claim(company.integration_id, "owner-a")
    assert job is not None
    assert job.event_id == second.event_id


async def test_a_lease_is_taken_over_only_after_it_expired(queue: FetchQueue, company: Company) -> None:
    first = Leases(queue.pool, "copy-1", ttl_seconds=0.4)
    second = Leases(queue.pool, "copy-2", ttl_seconds=5.0)
    assert await first.acquire(company.integration_id) == (True, None)
    assert await second.acquire(company.integration_id) == (False, None)
    assert await first.acquire(company.integration_id) == (True, None), "the owner renews"

    await queue.enqueue(company.request("p-7"))
    assert [c.integration_id for c in await queue.claimable("copy-2")].count(company.integration_id) == 0
    job = await queue.claim(company.integration_id, "copy-1")
    assert job is not None
    # copy-1 dies mid-fetch; once its lease expired, copy-2 takes the key and the job back.
    await asyncio.sleep(0.5)
    assert await second.acquire(company.integration_id) == (True, "copy-1")
    assert await queue.release_orphans("copy-2", set()) >= 1
    again = await queue.claim(company.integration_id, "copy-2")
    assert again is not None
    assert again.id == job.id
    assert not await queue.complete(job, "copy-1"), "the dead copy's late completion does not count"
    assert await first.renew([company.integration_id]) == set(), "copy-1 learns it lost the key"


async def test_a_company_with_300_queued_imports_does_not_hold_back_another(
    fetcher_pool: asyncpg.Pool[Any],
) -> None:
    await fetcher_pool.execute("DELETE FROM fetch_queue")
    busy, quiet = await add_company(fetcher_pool), await add_company(fetcher_pool)
    queue = FetchQueue(fetcher_pool)
    for index in range(300):
        await queue.enqueue(busy.request(f"busy-{index}"))
    lone = quiet.request("quiet-1")
    await queue.enqueue(lone)

    claimed: list[FetchJob] = []
    release = asyncio.Event()

    async def run(job: FetchJob) -> None:
        claimed.append(job)
        await release.wait()
        await queue.complete(job, scheduler.owner)

    owner = f"copy-{uuid.uuid4().hex[:6]}"
    scheduler = Scheduler(
        queue=queue, leases=Leases(fetcher_pool, owner, 15.0), run_job=run, settings=FetcherSettings()
    )
    started = await scheduler.round()
    mine = {busy.integration_id, quiet.integration_id}
    first_round = [job.integration_id for job in started if job.integration_id in mine]
    assert sorted(first_round) == sorted(mine), "both companies are claimed in the first round, one job each"
    assert any(job.event_id == lone.event_id for job in started)
    release.set()
    await scheduler.stop()


async def test_round_robin_with_a_single_worker_slot(fetcher_pool: asyncpg.Pool[Any]) -> None:
    await fetcher_pool.execute("DELETE FROM fetch_queue")
    busy, quiet = await add_company(fetcher_pool), await add_company(fetcher_pool)
    queue = FetchQueue(fetcher_pool)
    for index in range(5):
        await queue.enqueue(busy.request(f"rr-busy-{index}"))
    order: list[str] = []
    owner = f"copy-{uuid.uuid4().hex[:6]}"
    all_served = asyncio.Event()

    async def run(job: FetchJob) -> None:
        order.append(job.integration_id)
        if len(order) == 6:
            all_served.set()
        await queue.complete(job, owner)
        if order.count(busy.integration_id) == 1 and job.integration_id == busy.integration_id:
            # The quiet company's import arrives while the busy one is being served.
            await queue.enqueue(quiet.request("rr-quiet"))

    scheduler = Scheduler(
        queue=queue,
        leases=Leases(fetcher_pool, owner, 15.0),
        run_job=run,
        settings=FetcherSettings(max_concurrent_integrations=1),
    )
    scheduler.start()
    try:
        async with asyncio.timeout(10):
            await all_served.wait()
    finally:
        await scheduler.stop()
    served = [i for i in order if i in (busy.integration_id, quiet.integration_id)]
    assert served[0] == busy.integration_id
    assert served[1] == quiet.integration_id, f"the quiet company is next in line, got {served}"


async def test_two_copies_never_share_a_companys_key(fetcher_pool: asyncpg.Pool[Any]) -> None:
    await fetcher_pool.execute("DELETE FROM fetch_queue")
    companies = [await add_company(fetcher_pool) for _ in range(3)]
    queue = FetchQueue(fetcher_pool)
    for company in companies:
        for index in range(4):
            await queue.enqueue(company.request(f"two-copies-{index}"))
    runs: list[tuple[str, str]] = []
    in_flight: dict[str, int] = {}
    done = asyncio.Event()

    def runner(owner: str) -> Any:
        async def run(job: FetchJob) -> None:
            in_flight[job.integration_id] = in_flight.get(job.integration_id, 0) + 1
            assert in_flight[job.integration_id] == 1, "two jobs of one company in flight at once"
            await asyncio.sleep(0.02)
            runs.append((owner, job.integration_id))
            in_flight[job.integration_id] -= 1
            await queue.complete(job, owner)
            if len(runs) == 12:
                done.set()

        return run

    schedulers = [
        Scheduler(
            queue=queue, leases=Leases(fetcher_pool, owner, 15.0), run_job=runner(owner), settings=FetcherSettings()
        )
        for owner in ("copy-a", "copy-b")
    ]
    for scheduler in schedulers:
        scheduler.start()
    try:
        async with asyncio.timeout(15):
            await done.wait()
    finally:
        for scheduler in schedulers:
            await scheduler.stop()
    owners_by_company = {c.integration_id: {o for o, i in runs if i == c.integration_id} for c in companies}
    assert all(len(owners) == 1 for owners in owners_by_company.values()), owners_by_company


async def test_an_idle_lease_is_given_back_after_the_linger(fetcher_pool: asyncpg.Pool[Any], company: Company) -> None:
    queue = FetchQueue(fetcher_pool)
    await queue.enqueue(company.request("linger-1"))
    owner = f"copy-{uuid.uuid4().hex[:6]}"

    async def run(job: FetchJob) -> None:
        await queue.complete(job, owner)

    scheduler = Scheduler(
        queue=queue,
        leases=Leases(fetcher_pool, owner, 15.0),
        run_job=run,
        settings=FetcherSettings(lease_linger_seconds=0.2),
    )
    started = await scheduler.round()
    assert [j.integration_id for j in started if j.integration_id == company.integration_id]
    await asyncio.sleep(0.05)
    await scheduler.keep_leases()
    held = "SELECT owner FROM fetch_leases WHERE integration_id = $1::uuid"
    assert await fetcher_pool.fetchval(held, company.integration_id) == owner, "kept within the rate window"
    await asyncio.sleep(0.3)
    await scheduler.keep_leases()
    assert await fetcher_pool.fetchval(held, company.integration_id) is None
    await scheduler.stop()
