"""One fetch job against the emulator over HTTP, counting the calls it received (`GET /_sim/requests`), and
what each Aurora failure does to the job, the integration and the dead-letter topic."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
import pytest
from pydantic import SecretStr

from fetcher.credentials import CredentialStore
from fetcher.fetch import Fetcher
from fetcher.queue import FetchJob, FetchQueue
from fetcher.settings import FetcherSettings
from fetcher.snapshot import SnapshotReader
from pipeline_common import topics
from pipeline_common.aurora import AuroraClient, AuroraSettings
from pipeline_common.events import ImportRequested, TriggerRef, derive_event_id
from tests.fetcher.conftest import CIPHER, Company, add_company
from tests.fixtures.aurora_sim import AuroraSim

OWNER = "test-copy"
# The signed-document job is polled until it succeeds (the emulator answers in-progress once).
POLLED = ("/download_url/status", "/proposal_pdf_generation/status")  # jobs, polled until done


@dataclass
class RecordingBroker:
    published: list[dict[str, Any]] = field(default_factory=list)

    async def publish(self, body: bytes, *, topic: str, key: bytes, headers: dict[str, str]) -> None:
        self.published.append({"topic": topic, "key": key, "headers": headers, "body": orjson.loads(body)})

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [m for m in self.published if m["topic"] == topic]


@dataclass
class Rig:
    pool: asyncpg.Pool[Any]
    queue: FetchQueue
    fetcher: Fetcher
    broker: RecordingBroker
    sim: AuroraSim

    async def company(self) -> tuple[Company, str]:
        tenant = self.sim.create_tenant("Fetch Calls Solar")
        return await add_company(self.pool, tenant_id=tenant.tenant_id, api_key=tenant.api_key), tenant.api_key

    async def run(self, request: ImportRequested) -> FetchJob:
        await self.queue.enqueue(request)
        job = await self.queue.claim(request.integration_id, OWNER)
        assert job is not None
        await self.fetcher.run(job)
        return job

    async def status_of(self, job: FetchJob) -> asyncpg.Record:
        row = await self.pool.fetchrow("SELECT * FROM fetch_queue WHERE id = $1", job.id)
        assert row is not None
        return row


@pytest.fixture
async def rig(fetcher_pool: asyncpg.Pool[Any], aurora_sim: AuroraSim) -> AsyncIterator[Rig]:
    await fetcher_pool.execute("DELETE FROM fetch_queue")
    settings = FetcherSettings(max_attempts=2, retry_base_delay=0.01)
    aurora = AuroraClient(AuroraSettings(base_url=aurora_sim.base_url, max_retries=0))
    queue = FetchQueue(fetcher_pool)
    broker = RecordingBroker()
    fetcher = Fetcher(
        pool=fetcher_pool,
        broker=broker,
        queue=queue,
        credentials=CredentialStore(fetcher_pool, CIPHER, ttl_seconds=0.0),
        reader=SnapshotReader(aurora, fetcher_pool, settings.max_document_bytes),
        settings=settings,
        owner=OWNER,
    )
    yield Rig(fetcher_pool, queue, fetcher, broker, aurora_sim)
    await aurora.aclose()


def aurora_calls(sim: AuroraSim, tenant_id: str) -> Counter[str]:
    return Counter(f"{r['method']} {r['path']}" for r in sim.requests(tenant_id=tenant_id))


def assert_each_endpoint_once(calls: Counter[str]) -> None:
    repeated = {call: n for call, n in calls.items() if n > 1 and not call.endswith(POLLED)}
    assert not repeated, f"calls made more than once in one fetch: {repeated}"


async def test_signed_agreement_without_financing_reads_the_design_record_and_the_selected_financing(rig: Rig) -> None:
    company, api_key = await rig.company()
    project = rig.sim.create_project(
        company.tenant_id, with_financing=False, agreement_status="signed", designs=2, fire_events=False
    )
    assert project.agreement_id is not None
    assert project.financing_id is None
    request = company.request(project.project_id, agreement_id=project.agreement_id)

    job = await rig.run(request)

    calls = aurora_calls(rig.sim, company.tenant_id)
    # No financing named: the design's financings are listed once for the one selected in sales mode.
    assert [c for c in calls if "/financings" in c] == [c for c in calls if c.endswith("/financings")], calls
    assert_each_endpoint_once(calls)
    assert not [c for c in calls if c.endswith("/designs")], "the agreement names the design; no list needed"
    assert sum(1 for c in calls if c.endswith("/summary")) == 1
    assert sum(1 for c in calls if c.endswith("/pricing")) == 1
    fetched = rig.broker.on(topics.PROJECT_FETCHED)
    assert len(fetched) == 1
    body = fetched[0]["body"]
    assert body["event_id"] == derive_event_id(request.event_id, "fetch")
    assert body["design_rule"] == "agreement's design"
    financing = body["snapshot"]["financing"]
    assert (financing["financing_option"], financing["selected_in_sales_mode"]) == ("cash", True)
    # The design record (name, sizes, milestone) is read even though no designs list was needed.
    design = body["snapshot"]["design"]
    with rig.sim.api(api_key) as aurora:
        aurora_design = aurora.get(f"/tenants/{company.tenant_id}/designs/{design['id']}").json()["design"]
    compared = ("id", "name", "external_provider_id", "system_size_stc", "system_size_ptc", "system_size_ac")
    assert {k: design[k] for k in compared} == {k: aurora_design[k] for k in compared}
    assert design["name"]
    assert design["milestone"]["milestone"] == aurora_design["milestone"]["milestone"] == "sold"
    assert any(d["kind"] == "signed_agreement" for d in body["documents"])
    assert (await rig.status_of(job))["status"] == "done"


async def test_project_status_trigger_reads_no_agreement_and_only_the_chosen_design(rig: Rig) -> None:
    company, _ = await rig.company()
    project = rig.sim.create_project(company.tenant_id, designs=3, sold_design=1, fire_events=False)
    sold = project.design_ids[1]
    request = company.request(
        project.project_id,
        financing_id=project.financing_id,
        trigger=TriggerRef(kind="project_status_changed", status="Sold"),
    )

    await rig.run(request)

    calls = aurora_calls(rig.sim, company.tenant_id)
    assert not [c for c in calls if "/agreements" in c], "agreement only for agreement triggers"
    assert_each_endpoint_once(calls)
    for other in set(project.design_ids) - {sold}:
        assert not [c for c in calls if other in c], f"design {other} was not chosen, so not read"
    assert [c for c in calls if c.endswith(f"/financings/{project.financing_id}")], "financing id given → read"
    body = rig.broker.on(topics.PROJECT_FETCHED)[0]["body"]
    assert body["aurora_design_id"] == sold
    assert body["design_rule"] == "design with the sold milestone"


async def test_without_a_financing_id_the_design_financing_selected_in_sales_mode_is_used(rig: Rig) -> None:
    company, _ = await rig.company()
    project = rig.sim.create_project(company.tenant_id, agreement_status=None, with_financing=True, fire_events=False)
    assert project.financing_id is not None
    request = company.request(project.project_id, trigger=TriggerRef(kind="resync"))

    await rig.run(request)

    body = rig.broker.on(topics.PROJECT_FETCHED)[0]["body"]
    financing = body["snapshot"]["financing"]
    assert financing is not None, "the financing selected in sales mode was not read"
    assert financing["id"] == project.financing_id
    assert financing["selected_in_sales_mode"] is True
    assert_each_endpoint_once(aurora_calls(rig.sim, company.tenant_id))


async def test_revoked_token_marks_the_integration_and_parks_the_import(rig: Rig) -> None:
    company, api_key = await rig.company()
    project = rig.sim.create_project(company.tenant_id, fire_events=False)
    rig.sim.revoke_key(api_key)

    job = await rig.run(company.request(project.project_id))

    assert (await rig.status_of(job))["status"] == "parked"
    integration = await rig.pool.fetchrow(
        "SELECT status, status_reason FROM integrations WHERE id = $1::uuid", company.integration_id
    )
    assert integration is not None
    assert integration["status"] == "needs_attention"
    assert "Aurora rejected the token" in integration["status_reason"]
    # The fetcher's parked job is the one record, read by the admin through the `parked_imports` view.
    assert await rig.pool.fetchval("SELECT count(*) FROM parked_imports WHERE event_id = $1", job.event_id) == 1
    kinds = await rig.pool.fetch(
        "SELECT kind FROM integration_log WHERE integration_id = $1::uuid ORDER BY id", company.integration_id
    )
    assert [k["kind"] for k in kinds] == ["needs_attention", "parked"]
    assert not rig.broker.published

    # Further imports of the company are parked without calling Aurora.
    before = len(rig.sim.requests(tenant_id=company.tenant_id))
    second = await rig.run(company.request("another-project"))
    assert (await rig.status_of(second))["status"] == "parked"
    assert len(rig.sim.requests(tenant_id=company.tenant_id)) == before


async def test_not_found_is_logged_with_auroras_message_and_dead_lettered(rig: Rig) -> None:
    company, _ = await rig.company()
    request = company.request("no-such-project")

    job = await rig.run(request)

    assert (await rig.status_of(job))["status"] == "failed"
    message = await rig.pool.fetchval(
        "SELECT message FROM integration_log WHERE event_id = $1 AND kind = 'fetch_error'", request.event_id
    )
    assert message is not None
    assert "404" in message
    assert "Not found" in message
    dead = rig.broker.on(topics.dlq_topic(topics.IMPORT_REQUESTED))
    assert len(dead) == 1
    assert dead[0]["body"]["event_id"] == request.event_id
    headers = dead[0]["headers"]
    assert headers["x-error-code"] == "aurora_404"
    assert headers["x-stage"] == "fetcher"
    assert headers["x-original-topic"] == topics.IMPORT_REQUESTED
    assert headers["ce_id"] == request.event_id


async def test_transient_errors_back_off_then_dead_letter(rig: Rig) -> None:
    company, _ = await rig.company()
    project = rig.sim.create_project(company.tenant_id, fire_events=False)
    rig.sim.set_faults(tenant_id=company.tenant_id, error_rate=1.0, error_status=503)

    job = await rig.run(company.request(project.project_id))
    row = await rig.status_of(job)
    assert row["status"] == "pending"
    assert row["attempts"] == 1
    assert "503" in row["last_error"]
    assert not rig.broker.published

    await rig.pool.execute("UPDATE fetch_queue SET not_before = now() WHERE id = $1", job.id)
    again = await rig.queue.claim(company.integration_id, OWNER)
    assert again is not None
    assert again.attempts == 2
    await rig.fetcher.run(again)
    assert (await rig.status_of(job))["status"] == "failed", "max_attempts=2 reached"
    dead = rig.broker.on(topics.dlq_topic(topics.IMPORT_REQUESTED))
    assert len(dead) == 1
    assert dead[0]["headers"]["x-error-code"] == "aurora_transient"
    assert dead[0]["headers"]["x-attempt"] == "2"


async def test_a_401_with_a_token_replaced_meanwhile_retries_instead_of_flagging(rig: Rig) -> None:
    company, old_key = await rig.company()
    project = rig.sim.create_project(company.tenant_id, fire_events=False)
    caching = CredentialStore(rig.pool, CIPHER, ttl_seconds=60.0)
    rig.fetcher.credentials = caching
    assert await caching.get(company.integration_id) is not None  # the old token is now cached
    new_key = rig.sim.create_key(company.tenant_id, [], kind="standard")
    await rig.pool.execute(
        "UPDATE integrations SET token_ciphertext = $2 WHERE id = $1::uuid",
        company.integration_id,
        CIPHER.encrypt(SecretStr(new_key)),
    )
    rig.sim.revoke_key(old_key)

    job = await rig.run(company.request(project.project_id))

    assert (await rig.status_of(job))["status"] == "pending", "tried again with the new token"
    status = await rig.pool.fetchval("SELECT status FROM integrations WHERE id = $1::uuid", company.integration_id)
    assert status == "active"
    await rig.pool.execute("UPDATE fetch_queue SET not_before = now() WHERE id = $1", job.id)
    again = await rig.queue.claim(company.integration_id, OWNER)
    assert again is not None
    await rig.fetcher.run(again)
    assert (await rig.status_of(job))["status"] == "done"
