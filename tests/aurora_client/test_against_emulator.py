"""The client against the real emulator over HTTP (`tests/fixtures/aurora_sim.py`).

Each test makes its own tenant, so tests neither see nor rate-limit each other's data; faults are scoped to
that tenant as well.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from pydantic import SecretStr

from pipeline_common.aurora import (
    AgreementStatus,
    AuroraCall,
    AuroraClient,
    AuroraCredentials,
    AuroraSettings,
    FileUnavailable,
    InvalidCredentials,
    NewProject,
    NewWebhook,
    NotFound,
    NotPermitted,
    PermanentAuroraError,
    RateLimited,
    TransientAuroraError,
    WebhookUpdate,
)
from tests.fixtures.aurora_sim import AuroraSim, SimTenant, start_aurora_sim


@pytest.fixture
def client_for(aurora_sim: AuroraSim) -> Callable[..., Any]:
    @asynccontextmanager
    async def make(sim: AuroraSim | None = None, **settings: Any) -> AsyncIterator[AuroraClient]:
        base = {"base_url": (sim or aurora_sim).base_url, "retry_base_delay": 0.05, "max_retries": 2}
        async with AuroraClient(AuroraSettings(**(base | settings))) as client:
            yield client

    return make


@pytest.fixture
def tenant(aurora_sim: AuroraSim) -> SimTenant:
    return aurora_sim.create_tenant(f"Client Test {secrets.token_hex(3)}")


def creds_of(tenant: SimTenant, api_key: str | None = None) -> AuroraCredentials:
    return AuroraCredentials(tenant_id=tenant.tenant_id, token=SecretStr(api_key or tenant.api_key))


async def test_every_resource(aurora_sim: AuroraSim, tenant: SimTenant, client_for: Any) -> None:
    sim_project = aurora_sim.create_project(
        tenant.tenant_id, designs=2, sold_design=0, agreement_status="signed", with_financing=True
    )
    creds = creds_of(tenant)
    calls: list[AuroraCall] = []
    async with client_for() as aurora:
        aurora._on_call = calls.append

        assert (await aurora.retrieve_tenant(creds)).id == tenant.tenant_id

        project = await aurora.retrieve_project(creds, sim_project.project_id)
        assert project.id == sim_project.project_id
        assert project.created_at is not None
        assert project.created_at.tzinfo is not None
        assert project.location is not None
        assert project.location.property_address_components is not None
        assert project.model_extra == {}, "no field of the contract should land in extras"

        designs = await aurora.list_designs(creds, project.id)
        assert {d.id for d in designs} == set(sim_project.design_ids)
        sold = await aurora.retrieve_design(creds, sim_project.design_ids[0])
        assert sold.milestone_name == "sold"
        assert sold.milestone is not None
        assert sold.milestone.created_at is not None
        design_id = sold.id

        summary = await aurora.retrieve_design_summary(creds, design_id)
        assert summary.design_id == design_id
        assert summary.module_count > 0
        assert summary.energy_production is not None
        assert len(summary.energy_production.monthly) == 12

        pricing = await aurora.retrieve_pricing(creds, design_id)
        assert pricing.system_cost_breakdown
        assert all(component.component for component in pricing.system_cost_breakdown)

        agreement = await aurora.retrieve_agreement(creds, sim_project.agreement_id or "")
        assert agreement.status == AgreementStatus.SIGNED
        assert agreement.design_id in sim_project.design_ids

        financing_design = agreement.design_id or design_id
        financings = await aurora.list_financings(creds, financing_design)
        assert financings
        if sim_project.financing_id:
            financing = await aurora.retrieve_financing(creds, financing_design, sim_project.financing_id)
            assert financing.id == sim_project.financing_id
            assert financing.design_id == financing_design

        file_url = await aurora.signed_agreement_file_url(creds, agreement.id, initial_delay=0.05)
        document = await aurora.download(file_url, max_bytes=5_000_000)
        assert document.content.startswith(b"%PDF")

        proposal = await aurora.retrieve_default_proposal(creds, design_id)
        assert proposal.proposal_link
        web = await aurora.retrieve_web_proposal(creds, design_id)
        assert web.url

        design_assets = await aurora.list_design_assets(creds, design_id)
        assert design_assets
        project_assets = await aurora.list_project_assets(creds, project.id)
        assert isinstance(project_assets, list)
        asset = await aurora.retrieve_asset(creds, design_assets[0].id)
        assert asset.url
        blob = await aurora.download(asset.url)
        assert blob.size > 0

        users = await aurora.list_users(creds)
        assert users
        owner = await aurora.retrieve_user(creds, project.owner_id or users[0].id)
        assert owner.tenant_id == tenant.tenant_id

        profile = await aurora.retrieve_consumption_profile(creds, project.id)
        assert profile is not None
        assert profile.monthly_energy is not None
        assert len(profile.monthly_energy) == 12

    # File downloads carried no API key: the emulator records no key fingerprint for them.
    files = aurora_sim.requests(path="/files/")
    assert files
    assert all(entry["key_fingerprint"] is None for entry in files)
    assert {call.endpoint for call in calls} >= {"retrieve_tenant", "retrieve_agreement", "download"}
    assert all(call.status in (200, 201, 202) for call in calls)


async def test_missing_consumption_profile_is_none(aurora_sim: AuroraSim, tenant: SimTenant, client_for: Any) -> None:
    sim_project = aurora_sim.create_project(tenant.tenant_id, with_consumption_profile=False)
    async with client_for() as aurora:
        assert await aurora.retrieve_consumption_profile(creds_of(tenant), sim_project.project_id) is None


async def test_unsigned_agreement_has_no_document(aurora_sim: AuroraSim, tenant: SimTenant, client_for: Any) -> None:
    sim_project = aurora_sim.create_project(tenant.tenant_id, agreement_status="sent")
    async with client_for() as aurora:
        with pytest.raises(PermanentAuroraError) as caught:
            await aurora.run_agreement_download_url(creds_of(tenant), sim_project.agreement_id or "")
    assert caught.value.status == 422


async def test_agreement_status_spelling(aurora_sim: AuroraSim, tenant: SimTenant, client_for: Any) -> None:
    sim_project = aurora_sim.create_project(tenant.tenant_id, agreement_status="sent")
    aurora_sim.set_agreement_status(tenant.tenant_id, sim_project.agreement_id or "", "cancel_pending")
    async with client_for() as aurora:
        agreement = await aurora.retrieve_agreement(creds_of(tenant), sim_project.agreement_id or "")
    assert agreement.status == AgreementStatus.CANCEL_PENDING


async def test_create_project_and_paginate(aurora_sim: AuroraSim, tenant: SimTenant, client_for: Any) -> None:
    aurora_sim.bulk_projects(tenant.tenant_id, count=7)
    creds = creds_of(tenant)
    async with client_for() as aurora:
        created = await aurora.create_project(
            creds,
            NewProject(
                name="Client-created",
                external_provider_id="crm-42",
                location={"property_address": "901 Mears Ct, Stanford, CA 94305"},  # type: ignore[arg-type]
                customer_first_name="Ada",
            ),
        )
        assert created.external_provider_id == "crm-42"
        first_page = await aurora.list_projects(creds, page=1, per_page=3)
        every = [project async for project in aurora.iter_projects(creds, per_page=3)]
    assert len(first_page) == 3
    assert len(every) == 8
    assert len({p.id for p in every}) == 8
    assert every[0].id == created.id, "newest first"
    created_ats = [p.created_at for p in every if p.created_at is not None]
    assert created_ats == sorted(created_ats, reverse=True)
    pages = aurora_sim.requests(tenant_id=tenant.tenant_id, path="/projects", method="GET")
    assert [entry["query"] for entry in pages][-3:] == ["page=1&per_page=3", "page=2&per_page=3", "page=3&per_page=3"]


async def test_webhook_crud(tenant: SimTenant, client_for: Any) -> None:
    creds = creds_of(tenant)
    async with client_for() as aurora:
        hook = await aurora.create_webhook(
            creds,
            NewWebhook(
                event="agreement_status_changed",
                url_template="http://127.0.0.1:9/hook?agreement_id=<AGREEMENT_ID>&status=<STATUS>",
                description="client test",
                header_auth_key="X-Hook-Auth",
                header_auth_value="hook-secret",
            ),
        )
        assert hook.enabled is True
        assert hook.header_auth_key == "X-Hook-Auth"
        assert "header_auth_value" not in (hook.model_extra or {})
        assert [h.id for h in await aurora.list_webhooks(creds)] == [hook.id]
        updated = await aurora.update_webhook(creds, hook.id, WebhookUpdate(enabled=False))
        assert updated.enabled is False
        assert updated.url_template == hook.url_template
        assert (await aurora.retrieve_webhook(creds, hook.id)).enabled is False
        await aurora.delete_webhook(creds, hook.id)
        assert await aurora.list_webhooks(creds) == []
        with pytest.raises(NotFound):
            await aurora.retrieve_webhook(creds, hook.id)


async def test_unknown_key_is_invalid_credentials(aurora_sim: AuroraSim, tenant: SimTenant, client_for: Any) -> None:
    async with client_for() as aurora:
        for token in (f"sk_sand_{secrets.token_hex(12)}", f"sk_prod_{secrets.token_hex(12)}"):
            with pytest.raises(InvalidCredentials) as caught:
                await aurora.retrieve_tenant(creds_of(tenant, token))
            assert caught.value.status == 401
            assert token not in str(caught.value)
            assert token not in repr(caught.value)
    unknown = aurora_sim.requests(tenant_id=tenant.tenant_id, status=401)
    assert len(unknown) == 2, "401 is never retried"


async def test_revoked_key(aurora_sim: AuroraSim, tenant: SimTenant, client_for: Any) -> None:
    key = aurora_sim.create_key(tenant.tenant_id, [], kind="standard")
    aurora_sim.revoke_key(key)
    async with client_for() as aurora:
        with pytest.raises(InvalidCredentials, match="Invalid API key"):
            await aurora.retrieve_tenant(creds_of(tenant, key))


async def test_restricted_key_is_not_permitted(aurora_sim: AuroraSim, tenant: SimTenant, client_for: Any) -> None:
    sim_project = aurora_sim.create_project(tenant.tenant_id)
    restricted = creds_of(tenant, aurora_sim.create_key(tenant.tenant_id, ["retrieve_project"]))
    async with client_for() as aurora:
        assert (await aurora.retrieve_project(restricted, sim_project.project_id)).id == sim_project.project_id
        with pytest.raises(NotPermitted, match="not permitted") as caught:
            await aurora.list_projects(restricted)
    assert caught.value.status == 403
    assert caught.value.endpoint == "list_projects"
    assert len(aurora_sim.requests(tenant_id=tenant.tenant_id, status=403)) == 1, "403 is never retried"


async def test_other_tenant_is_not_found(aurora_sim: AuroraSim, tenant: SimTenant, client_for: Any) -> None:
    other = aurora_sim.create_tenant("Someone Else")
    theirs = aurora_sim.create_project(other.tenant_id)
    async with client_for() as aurora:
        with pytest.raises(NotFound):
            await aurora.retrieve_project(creds_of(tenant), theirs.project_id)
        with pytest.raises(NotFound):
            await aurora.retrieve_design(creds_of(tenant), theirs.design_ids[0])
        # my key with their tenant id
        with pytest.raises(NotFound):
            await aurora.retrieve_tenant(AuroraCredentials(tenant_id=other.tenant_id, token=SecretStr(tenant.api_key)))


async def test_wrong_api_version_is_permanent(tenant: SimTenant, client_for: Any) -> None:
    async with client_for(api_version="2099.01") as aurora:
        with pytest.raises(PermanentAuroraError) as caught:
            await aurora.retrieve_tenant(creds_of(tenant))
    assert caught.value.status == 400


async def test_server_errors_are_retried_then_transient(
    aurora_sim: AuroraSim, tenant: SimTenant, client_for: Any
) -> None:
    aurora_sim.set_faults(tenant_id=tenant.tenant_id, error_rate=1.0, error_status=503)
    async with client_for(max_retries=2) as aurora:
        with pytest.raises(TransientAuroraError) as caught:
            await aurora.retrieve_tenant(creds_of(tenant))
    assert caught.value.status == 503
    assert len(aurora_sim.requests(tenant_id=tenant.tenant_id, status=503)) == 3


async def test_connection_resets_and_timeouts_are_transient(
    aurora_sim: AuroraSim, tenant: SimTenant, client_for: Any
) -> None:
    creds = creds_of(tenant)
    aurora_sim.set_faults(tenant_id=tenant.tenant_id, reset_rate=1.0)
    async with client_for(max_retries=1) as aurora:
        with pytest.raises(TransientAuroraError):
            await aurora.retrieve_tenant(creds)
    aurora_sim.set_faults(tenant_id=tenant.tenant_id, timeout_rate=1.0, timeout_seconds=2.0)
    async with client_for(max_retries=0, read_timeout=0.3) as aurora:
        started = time.monotonic()
        with pytest.raises(TransientAuroraError, match="ReadTimeout"):
            await aurora.retrieve_tenant(creds)
        assert time.monotonic() - started < 1.5


async def test_transient_faults_recover(aurora_sim: AuroraSim, tenant: SimTenant, client_for: Any) -> None:
    aurora_sim.set_faults(tenant_id=tenant.tenant_id, error_rate=0.5, latency_ms=5)
    async with client_for(max_retries=8) as aurora:
        results = await asyncio.gather(*(aurora.retrieve_tenant(creds_of(tenant)) for _ in range(10)))
    assert all(result.id == tenant.tenant_id for result in results)


async def test_retry_after_from_a_429_storm(aurora_sim: AuroraSim, tenant: SimTenant, client_for: Any) -> None:
    aurora_sim.set_faults(tenant_id=tenant.tenant_id, rate_limit_storm=1.0, storm_retry_after=1)
    creds = creds_of(tenant)
    async with client_for(max_retries=3) as aurora:
        call = asyncio.create_task(aurora.retrieve_tenant(creds))
        await asyncio.sleep(0.3)
        aurora_sim.clear_faults()
        started = time.monotonic()
        assert (await call).id == tenant.tenant_id
        # The retry waited out the storm's Retry-After (1 s, counted from the 429).
        assert time.monotonic() - started >= 0.5
    statuses = [entry["status"] for entry in aurora_sim.requests(tenant_id=tenant.tenant_id)]
    assert statuses == [429, 200]


async def test_persistent_429_surfaces_rate_limited(aurora_sim: AuroraSim, tenant: SimTenant, client_for: Any) -> None:
    aurora_sim.set_faults(tenant_id=tenant.tenant_id, rate_limit_storm=1.0, storm_retry_after=0)
    async with client_for(max_retries=2) as aurora:
        with pytest.raises(RateLimited) as caught:
            await aurora.retrieve_tenant(creds_of(tenant))
    assert caught.value.retry_after == 0
    assert len(aurora_sim.requests(tenant_id=tenant.tenant_id, status=429)) == 3


async def test_real_limit_429_pauses_the_key(aurora_sim: AuroraSim, client_for: Any) -> None:
    """The emulator allows 3/min but the client believes 90: the 429's Retry-After takes over."""
    tenant = aurora_sim.create_tenant("Low Limit", rate_limit_per_minute=3)
    creds = creds_of(tenant)
    async with client_for(max_retry_after=5) as aurora:
        for _ in range(3):
            await aurora.retrieve_tenant(creds)
        with pytest.raises(RateLimited) as caught:
            await aurora.retrieve_tenant(creds)
        assert caught.value.retry_after is not None
        assert 50 <= caught.value.retry_after <= 60
        assert aurora.limiter.paused_for(creds.key_fingerprint) > 45
        # Every further call on this key now waits in the limiter instead of hammering Aurora.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(aurora.retrieve_tenant(creds), 0.5)
    assert len(aurora_sim.requests(tenant_id=tenant.tenant_id, status=429)) == 1


async def test_limiter_keeps_concurrent_calls_under_the_budget(aurora_sim: AuroraSim, client_for: Any) -> None:
    """20/min on both sides; 26 concurrent calls: 20 go out at once, 6 wait in the client, none gets a 429."""
    limit = 20
    tenant = aurora_sim.create_tenant("Busy Key", rate_limit_per_minute=limit)
    creds = creds_of(tenant)
    async with client_for(requests_per_minute=limit) as aurora:
        tasks = [asyncio.create_task(aurora.retrieve_tenant(creds)) for _ in range(limit + 6)]
        done, pending = await asyncio.wait(tasks, timeout=3)
        await asyncio.sleep(1)
        assert len(done) == limit
        assert len(pending) == 6
        assert all(task.exception() is None for task in done)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    seen = aurora_sim.requests(tenant_id=tenant.tenant_id)
    assert len(seen) == limit
    assert {entry["status"] for entry in seen} == {200}


# Waits one real 60 s window: the only way to show the budget holds across windows against the emulator's clock.
async def test_limiter_over_a_full_window(aurora_sim: AuroraSim, client_for: Any) -> None:
    """Few calls over more than one real window: all succeed, none is refused, at most `limit` per 60 s."""
    limit = 4
    tenant = aurora_sim.create_tenant("Window Key", rate_limit_per_minute=limit)
    creds = creds_of(tenant)
    sent: list[tuple[float, float]] = []

    async def call() -> None:
        started = time.monotonic()
        await aurora.retrieve_tenant(creds)
        sent.append((started, time.monotonic()))

    async with client_for(requests_per_minute=limit) as aurora:
        await asyncio.gather(*(call() for _ in range(limit + 2)))
    seen = aurora_sim.requests(tenant_id=tenant.tenant_id)
    assert [entry["status"] for entry in seen] == [200] * (limit + 2)
    ends = sorted(end for _, end in sent)
    assert ends[limit] - ends[0] >= 60


async def test_unknown_enum_values_and_extra_fields(aurora_sim: AuroraSim, tenant: SimTenant, client_for: Any) -> None:
    sim_project = aurora_sim.create_project(tenant.tenant_id, agreement_status="signed", with_financing=True)
    aurora_sim.set_faults(tenant_id=tenant.tenant_id, unknown_enum_values=True, extra_fields=True)
    creds = creds_of(tenant)
    async with client_for() as aurora:
        project = await aurora.retrieve_project(creds, sim_project.project_id)
        agreement = await aurora.retrieve_agreement(creds, sim_project.agreement_id or "")
        design_id = agreement.design_id or sim_project.design_ids[0]
        summary = await aurora.retrieve_design_summary(creds, design_id)
        pricing = await aurora.retrieve_pricing(creds, design_id)
        financings = await aurora.list_financings(creds, design_id)
        users = await aurora.list_users(creds)
    assert project.model_extra is not None
    assert "sim_future_property" in project.model_extra
    assert agreement.signing_provider == "adobe_sign"
    assert "ev_chargers" in {item.component_type for item in summary.bill_of_materials}
    assert "sim_future_object" in (summary.model_extra or {})
    assert "dealer_fees" in {component.component for component in pricing.system_cost_breakdown}
    with_financier = [f for f in financings if f.financier is not None]
    assert all(f.financier is not None and f.financier.status == "under_review" for f in with_financier)
    assert {user.account_status for user in users} == {"pending_sso"}


@pytest.fixture(scope="module")
def production_sim() -> Iterator[AuroraSim]:
    with start_aurora_sim(ENVIRONMENT="production") as sim:
        yield sim


async def test_production_emulator_rejects_sandbox_keys(production_sim: AuroraSim, client_for: Any) -> None:
    tenant = production_sim.create_tenant("Prod Co")
    assert tenant.api_key.startswith("sk_prod_")
    async with client_for(production_sim) as aurora:
        assert (await aurora.retrieve_tenant(creds_of(tenant))).id == tenant.tenant_id
        with pytest.raises(InvalidCredentials, match="not valid for this environment"):
            await aurora.retrieve_tenant(creds_of(tenant, "sk_sand_" + tenant.api_key.removeprefix("sk_prod_")))


async def test_expired_file_url_is_unavailable(client_for: Any) -> None:
    # A private instance: moving the wall clock on the shared one would age every other test's data.
    with start_aurora_sim() as sim:
        tenant = sim.create_tenant("Expiry Co")
        sim_project = sim.create_project(tenant.tenant_id)
        async with client_for(sim) as aurora:
            assets = await aurora.list_design_assets(creds_of(tenant), sim_project.design_ids[0])
            url = assets[0].url
            assert url is not None
            assert (await aurora.download(url)).size > 0
            sim.advance_clock(16 * 60)
            with pytest.raises(FileUnavailable, match="expired") as caught:
                await aurora.download(url)
    assert caught.value.status == 403
    assert "signature=" not in str(caught.value)
