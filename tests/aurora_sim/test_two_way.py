"""What a CRM that creates projects in Aurora meets: Create Project's documented rules, the newest-first list
it re-checks after a crash, `project_changed`, and a designer taking its project to signed (control API)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.aurora_sim.receiver import Received, webhook_receiver
from tests.aurora_sim.test_conformance import errors_of
from tests.aurora_sim.test_webhooks import subscribe, wait_deliveries
from tests.fixtures.aurora_sim import AuroraSim, SimTenant

ADDRESS = "434 Brannan St, San Francisco, CA 94107"


@pytest.fixture
def tenant(aurora_sim: AuroraSim) -> SimTenant:
    return aurora_sim.create_tenant("Two-way Solar")


def create(api: httpx.Client, tenant: SimTenant, project: dict[str, Any]) -> httpx.Response:
    return api.post(f"/tenants/{tenant.tenant_id}/projects", json={"project": project})


def query(hit: Received) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(hit.path).query, keep_blank_values=True))


def test_both_address_shapes_give_the_same_deterministic_place(aurora_sim: AuroraSim, tenant: SimTenant) -> None:
    with aurora_sim.api(tenant.api_key) as api:
        top = create(api, tenant, {"address": ADDRESS, "name": "Top-level shape"})
        nested = create(api, tenant, {"location": {"property_address": ADDRESS}, "name": "2024.05 shape"})
        other = create(api, tenant, {"address": "1 Elsewhere Rd, Nowhere, ZZ 00001"})
        pinned = create(api, tenant, {"address": ADDRESS, "latitude": 37.7796, "longitude": -122.3953})
    for response in (top, nested, other, pinned):
        assert response.status_code == 200, response.text
    a, b = top.json()["project"]["location"], nested.json()["project"]["location"]
    assert a == b  # same address, either shape: the same stored place
    assert a["property_address"] == ADDRESS
    assert a["property_address_components"] == {
        "street_address": "434 Brannan St",
        "city": "San Francisco",
        "region": "CA",
        "postal_code": "94107",
        "country": "United States",
    }
    assert 18 < a["latitude"] < 50
    assert -125 < a["longitude"] < -66
    far = other.json()["project"]["location"]
    assert (far["latitude"], far["longitude"]) != (a["latitude"], a["longitude"])
    assert 18 < far["latitude"] < 50
    assert -125 < far["longitude"] < -66
    # Address and coordinates both given: stored as passed (reference §6.1).
    given = pinned.json()["project"]["location"]
    assert (given["latitude"], given["longitude"]) == (37.7796, -122.3953)


def test_null_optional_strings_are_refused_field_by_field_and_nothing_is_created(
    aurora_sim: AuroraSim, tenant: SimTenant
) -> None:
    with aurora_sim.api(tenant.api_key) as api:
        nulls = create(
            api,
            tenant,
            {"address": ADDRESS, "name": "Nulls", "customer_email": None, "customer_phone": None, "status": None},
        )
        null_address = create(api, tenant, {"address": None})
        null_nested = create(api, tenant, {"location": {"property_address": None}})
        disagree = create(api, tenant, {"address": ADDRESS, "location": {"property_address": "9 Oak St, Mesa, AZ"}})
        nowhere = create(api, tenant, {"name": "No place"})
        listed = api.get(f"/tenants/{tenant.tenant_id}/projects").json()["projects"]
    assert nulls.status_code == 422
    assert errors_of(nulls) == [
        "status must be a string",
        "customer_email must be a string",
        "customer_phone must be a string",
    ]
    assert null_address.status_code == 422
    assert errors_of(null_address) == ["address must be a string"]
    assert errors_of(null_nested) == ["location.property_address must be a string"]
    assert disagree.status_code == 422
    assert errors_of(disagree) == ["location.property_address and address disagree"]
    assert errors_of(nowhere) == ["location must include property_address or latitude and longitude"]
    assert listed == []


def test_api_created_projects_are_the_newest_and_keep_external_provider_id(
    aurora_sim: AuroraSim, tenant: SimTenant
) -> None:
    aurora_sim.bulk_projects(tenant.tenant_id, 5, seed=11)
    with aurora_sim.api(tenant.api_key) as api:
        ids = [
            create(api, tenant, {"address": ADDRESS, "external_provider_id": f"req-{n}"}).json()["project"]["id"]
            for n in range(3)
        ]
        newest = api.get(f"/tenants/{tenant.tenant_id}/projects", params={"page": 1, "per_page": 3}).json()
        retrieved = api.get(f"/tenants/{tenant.tenant_id}/projects/{ids[1]}").json()["project"]
    assert [p["id"] for p in newest["projects"]] == list(reversed(ids))
    assert [p["external_provider_id"] for p in newest["projects"]] == ["req-2", "req-1", "req-0"]
    assert retrieved["external_provider_id"] == "req-1"


def test_project_created_through_the_api_fires_with_source_api(aurora_sim: AuroraSim, tenant: SimTenant) -> None:
    with webhook_receiver() as receiver:
        subscribe(aurora_sim, tenant, "project_created", f"{receiver.url}/c?project_id=<PROJECT_ID>&source=<SOURCE>")
        with aurora_sim.api(tenant.api_key) as api:
            project = create(api, tenant, {"address": ADDRESS}).json()["project"]
        (hit,) = receiver.wait_for(1)
    assert query(hit) == {"project_id": project["id"], "source": "api"}


def test_project_changed_fires_for_api_and_app_edits_and_not_for_no_ops(
    aurora_sim: AuroraSim, tenant: SimTenant
) -> None:
    with aurora_sim.api(tenant.api_key) as api:
        project = create(api, tenant, {"address": ADDRESS, "customer_phone": "555-0100"}).json()["project"]
    path = f"/tenants/{tenant.tenant_id}/projects/{project['id']}"
    with webhook_receiver() as receiver:
        hook = subscribe(
            aurora_sim,
            tenant,
            "project_changed",
            f"{receiver.url}/changed?project_id=<PROJECT_ID>&source=<SOURCE>&attributes=<ATTRIBUTES>",
        )
        assert hook["event"] == "project_changed"
        subscribe(aurora_sim, tenant, "project_status_changed", f"{receiver.url}/status?status=<STATUS>")
        with aurora_sim.api(tenant.api_key) as api:
            assert api.put(path, json={"project": {"customer_phone": "555-0199"}}).status_code == 200
            # The same value again is no change: nothing fires.
            assert api.put(path, json={"project": {"customer_phone": "555-0199"}}).status_code == 200
        edited = aurora_sim.edit_project(
            tenant.tenant_id,
            project["id"],
            customer_last_name="Okafor",
            address="9 Oak St, Mesa, AZ 85201",
            status="Design Ready",
        )
        aurora_sim.set_project_status(tenant.tenant_id, project["id"], "Project Sold")
        hits = receiver.wait_for(5)
        wait_deliveries(aurora_sim, 5, tenant_id=tenant.tenant_id)
    assert edited["changed"] == ["status", "customer_last_name", "location"]
    assert edited["project"]["location"]["property_address_components"]["city"] == "Mesa"
    changed = sorted((query(h) for h in hits if h.path.startswith("/changed")), key=lambda q: q["attributes"])
    assert changed == [
        {"project_id": project["id"], "source": "api", "attributes": "customer_phone"},
        {"project_id": project["id"], "source": "app", "attributes": "status"},
        {"project_id": project["id"], "source": "app", "attributes": "status,customer_last_name,location"},
    ]
    assert sorted(query(h)["status"] for h in hits if h.path.startswith("/status")) == ["Design Ready", "Project Sold"]
    assert len(aurora_sim.deliveries(tenant_id=tenant.tenant_id)) == 5


def test_control_api_edit_refuses_bad_fields(aurora_sim: AuroraSim, tenant: SimTenant) -> None:
    project = aurora_sim.create_project(tenant.tenant_id, fire_events=False)
    response = aurora_sim.http.patch(
        f"/_sim/tenants/{tenant.tenant_id}/projects/{project.project_id}", json={"customer_email": None}
    )
    assert response.status_code == 422
    assert errors_of(response) == ["customer_email must be a string"]


def test_a_designer_takes_a_crm_created_project_to_signed(aurora_sim: AuroraSim, tenant: SimTenant) -> None:
    with aurora_sim.api(tenant.api_key) as api:
        project = create(api, tenant, {"address": ADDRESS, "external_provider_id": "req-77"}).json()["project"]
        assert api.get(f"/tenants/{tenant.tenant_id}/projects/{project['id']}/designs").json() == {"designs": []}
    no_design = aurora_sim.http.post(f"/_sim/tenants/{tenant.tenant_id}/projects/{project['id']}/agreements", json={})
    assert no_design.status_code == 422
    with webhook_receiver() as receiver:
        for event, template in (
            ("design_created", "/design?project_id=<PROJECT_ID>&design_id=<DESIGN_ID>&source=<SOURCE>"),
            ("web_proposal_url_created", "/proposal?design_id=<DESIGN_ID>&source=<SOURCE>"),
            ("agreement_status_changed", "/agreement?agreement_id=<AGREEMENT_ID>&status=<STATUS>"),
        ):
            subscribe(aurora_sim, tenant, event, receiver.url + template)
        designs = aurora_sim.add_designs(tenant.tenant_id, project["id"], count=2, with_financing=True, seed=5)
        design_id = designs["design_ids"][0]
        shared = aurora_sim.share_proposal(tenant.tenant_id, design_id)
        sent = aurora_sim.send_agreement(tenant.tenant_id, project["id"], design_id=design_id)
        agreement_id = sent["agreement_id"]
        aurora_sim.set_agreement_status(tenant.tenant_id, agreement_id, "viewed")
        aurora_sim.set_agreement_status(tenant.tenant_id, agreement_id, "signed")
        hits = receiver.wait_for(6)
    assert len(designs["design_ids"]) == 2
    assert designs["financing_id"] is not None
    paths = [h.path for h in hits]
    for did in designs["design_ids"]:
        assert f"/design?project_id={project['id']}&design_id={did}&source=app" in paths
    assert f"/proposal?design_id={design_id}&source=app" in paths
    # Aurora promises no delivery order, so only the set of statuses is asserted.
    assert sorted(query(h)["status"] for h in hits if h.path.startswith("/agreement")) == ["sent", "signed", "viewed"]
    with aurora_sim.api(tenant.api_key) as api:
        listed = api.get(f"/tenants/{tenant.tenant_id}/projects/{project['id']}/designs").json()["designs"]
        summary = api.get(f"/tenants/{tenant.tenant_id}/designs/{design_id}/summary")
        proposal = api.get(f"/tenants/{tenant.tenant_id}/designs/{design_id}/proposals/default").json()["proposal"]
        web = api.get(f"/tenants/{tenant.tenant_id}/designs/{design_id}/web_proposal").json()["web_proposal"]
        agreement = api.get(f"/tenants/{tenant.tenant_id}/agreements/{agreement_id}").json()["agreement"]
    assert [d["id"] for d in listed] == designs["design_ids"]
    assert summary.status_code == 200
    assert summary.json()["design"]["bill_of_materials"]
    assert proposal["id"] == shared["proposal_id"]
    assert web["url"] == shared["web_proposal"]["url"]
    assert agreement["project_id"] == project["id"]
    assert agreement["design_id"] == design_id
    assert agreement["status"] == "signed"
    assert agreement["financing_id"] == designs["financing_id"]  # the loan selected on that design
