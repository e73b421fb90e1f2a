"""The production flavour of the emulator and the fixture's async helpers."""

from __future__ import annotations

import asyncio

from tests.aurora_sim.receiver import webhook_receiver
from tests.fixtures.aurora_sim import AuroraSim, start_aurora_sim


def test_production_environment_issues_and_requires_prod_keys() -> None:
    with start_aurora_sim(ENVIRONMENT="production") as sim:
        tenant = sim.create_tenant("Prod Solar")
        assert tenant.api_key.startswith("sk_prod_")
        assert sim.create_key(tenant.tenant_id, ["list_projects"]).startswith("rk_prod_")
        with sim.api(tenant.api_key) as api:
            assert api.get(f"/tenants/{tenant.tenant_id}").status_code == 200
        sandbox_key = tenant.api_key.replace("sk_prod_", "sk_sand_")
        with sim.api(sandbox_key) as api:
            response = api.get(f"/tenants/{tenant.tenant_id}")
        assert response.status_code == 401
        assert response.json() == {"errors": [{"message": "API key is not valid for this environment"}]}


async def test_async_helpers_drive_a_signed_agreement(aurora_sim: AuroraSim) -> None:
    tenant = await aurora_sim.acreate_tenant("Async Solar")
    project = await aurora_sim.acreate_project(tenant.tenant_id, fire_events=False)
    assert project.agreement_id is not None
    with webhook_receiver() as receiver:
        async with aurora_sim.aapi(tenant.api_key) as api:
            created = await api.post(
                f"/tenants/{tenant.tenant_id}/webhooks",
                json={"webhook": {"event": "agreement_status_changed", "url_template": f"{receiver.url}/?s=<STATUS>"}},
            )
            assert created.status_code == 201
            await aurora_sim.aset_agreement_status(tenant.tenant_id, project.agreement_id, "viewed")
            await aurora_sim.aset_agreement_status(tenant.tenant_id, project.agreement_id, "signed")
            hits = await asyncio.to_thread(receiver.wait_for, 2)
            agreement = (await api.get(f"/tenants/{tenant.tenant_id}/agreements/{project.agreement_id}")).json()
    assert sorted(h.path for h in hits) == ["/?s=signed", "/?s=viewed"]
    assert agreement["agreement"]["status"] == "signed"
    deliveries = await aurora_sim.adeliveries(tenant_id=tenant.tenant_id)
    assert len(deliveries) == 2
