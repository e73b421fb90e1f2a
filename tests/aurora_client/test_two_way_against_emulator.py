"""The two-way calls of the client against the real emulator: create with optional values missing, refusals
by field, and finding our external_provider_id among the tenant's newest projects."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from pipeline_common.aurora import AuroraClient, AuroraCredentials, AuroraSettings, InvalidRequest
from tests.fixtures.aurora_sim import AuroraSim, SimTenant


@pytest.fixture
def tenant(aurora_sim: AuroraSim) -> SimTenant:
    return aurora_sim.create_tenant(f"Two-way Client {secrets.token_hex(3)}")


@pytest.fixture
def creds(tenant: SimTenant) -> AuroraCredentials:
    return AuroraCredentials(tenant_id=tenant.tenant_id, token=SecretStr(tenant.api_key))


@pytest.fixture
async def client(aurora_sim: AuroraSim) -> AsyncIterator[AuroraClient]:
    async with AuroraClient(AuroraSettings(base_url=aurora_sim.base_url, max_retries=1)) as aurora:
        yield aurora


async def test_create_leaves_missing_values_out_and_aurora_accepts_it(
    aurora_sim: AuroraSim, client: AuroraClient, creds: AuroraCredentials
) -> None:
    # A CRM request without phone or coordinates: sent as JSON null, Aurora (and the emulator) would refuse it.
    project = await client.create_project(
        creds,
        {
            "external_provider_id": "req-42",
            "name": "Ada Lovelace",
            "project_type": "commercial",
            "customer_first_name": "Ada",
            "customer_last_name": "Lovelace",
            "customer_email": "ada@example.com",
            "customer_phone": None,
            "location": {"property_address": "434 Brannan St, San Francisco, CA 94107", "latitude": None},
        },
    )
    assert project.external_provider_id == "req-42"
    assert project.project_type == "commercial"
    assert project.customer_phone is None
    assert project.location is not None
    assert project.location.latitude is not None  # derived from the address
    assert project.location.property_address_components is not None
    assert project.location.property_address_components.postal_code == "94107"
    again = await client.retrieve_project(creds, project.id)
    assert again.external_provider_id == "req-42"
    (sent,) = aurora_sim.requests(tenant_id=creds.tenant_id, method="POST", path="/projects")
    assert sent["status"] == 200


async def test_refusal_names_each_field_in_plain_words(client: AuroraClient, creds: AuroraCredentials) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await client.create_project(
            creds,
            {"name": "x" * 256, "owner_id": "nobody", "location": {"property_address": "1 Main St, Mesa, AZ 85201"}},
        )
    assert caught.value.field_errors == {
        "name": ["Name is too long (maximum is 255 characters)"],
        "owner_id": ["Owner ID is not a user of this tenant"],
    }
    assert await client.newest_projects(creds, 5) == []  # nothing was created


async def test_our_project_is_found_among_the_newest(
    aurora_sim: AuroraSim, client: AuroraClient, creds: AuroraCredentials, tenant: SimTenant
) -> None:
    aurora_sim.bulk_projects(tenant.tenant_id, 12, seed=4)
    ours = await client.create_project(
        creds, {"external_provider_id": "req-7", "location": {"property_address": "9 Oak St, Mesa, AZ 85201"}}
    )
    aurora_sim.bulk_projects(tenant.tenant_id, 3, seed=5)  # back-dated: Aurora-app projects made earlier
    newest = await client.newest_projects(creds, 4)
    assert newest[0].id == ours.id
    found = await client.find_recent_project(creds, "req-7", search_depth=10)
    assert found is not None
    assert found.id == ours.id
    assert await client.find_recent_project(creds, "req-8", search_depth=10) is None
