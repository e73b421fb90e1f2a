"""The emulator answers like the documented Aurora (reference + the README table), over real HTTP."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.fixtures.aurora_sim import AuroraSim, SimTenant

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$")


@pytest.fixture
def tenant(aurora_sim: AuroraSim) -> SimTenant:
    return aurora_sim.create_tenant("Conformance Solar")


def errors_of(response: httpx.Response) -> list[str]:
    body = response.json()
    assert set(body) == {"errors"}
    assert all(set(e) == {"message"} for e in body["errors"])
    return [e["message"] for e in body["errors"]]


def test_health_and_openapi_tags(aurora_sim: AuroraSim) -> None:
    assert aurora_sim.http.get("/_sim/health").json()["status"] == "ok"
    spec = aurora_sim.http.get("/openapi.json").json()
    assert spec["paths"]["/_sim/tenants"]["post"]["tags"] == ["simulator"]
    assert "/tenants/{tenant_id}/projects" in spec["paths"]


def test_retrieve_tenant(aurora_sim: AuroraSim, tenant: SimTenant) -> None:
    with aurora_sim.api(tenant.api_key) as api:
        body = api.get(f"/tenants/{tenant.tenant_id}").json()
    assert set(body["tenant"]) == {"id", "name", "created_at"}
    assert body["tenant"]["id"] == tenant.tenant_id
    assert TIMESTAMP.match(body["tenant"]["created_at"])


def test_auth_failures(aurora_sim: AuroraSim, tenant: SimTenant) -> None:
    path = f"/tenants/{tenant.tenant_id}/projects"
    missing = aurora_sim.http.get(path)
    assert missing.status_code == 401
    assert errors_of(missing) == ["Missing or invalid Authorization header"]
    basic = aurora_sim.http.get(path, headers={"Authorization": f"Basic {tenant.api_key}"})
    assert basic.status_code == 401
    unknown = aurora_sim.http.get(path, headers={"Authorization": "Bearer sk_sand_doesnotexist000000000000"})
    assert unknown.status_code == 401
    assert errors_of(unknown) == ["Invalid API key"]
    # Another shape is looked up like any key, not rejected for its shape.
    bare = aurora_sim.http.get(path, headers={"Authorization": "Bearer sand_abc"})
    assert errors_of(bare) == ["Invalid API key"]
    prod_key = tenant.api_key.replace("sk_sand_", "sk_prod_")
    wrong_env = aurora_sim.http.get(path, headers={"Authorization": f"Bearer {prod_key}"})
    assert wrong_env.status_code == 401
    assert errors_of(wrong_env) == ["API key is not valid for this environment"]


def test_revoked_key_is_401(aurora_sim: AuroraSim, tenant: SimTenant) -> None:
    key = aurora_sim.create_key(tenant.tenant_id, [], kind="standard")
    with aurora_sim.api(key) as api:
        assert api.get(f"/tenants/{tenant.tenant_id}").status_code == 200
        aurora_sim.revoke_key(key)
        assert api.get(f"/tenants/{tenant.tenant_id}").status_code == 401


def test_other_tenants_ids_are_404_never_403(aurora_sim: AuroraSim, tenant: SimTenant) -> None:
    other = aurora_sim.create_tenant("Other Solar")
    theirs = aurora_sim.create_project(other.tenant_id)
    with aurora_sim.api(tenant.api_key) as api:
        foreign_tenant = api.get(f"/tenants/{other.tenant_id}/projects")
        assert foreign_tenant.status_code == 404
        assert errors_of(foreign_tenant) == ["Not found"]
        for path in (
            f"/tenants/{tenant.tenant_id}/projects/{theirs.project_id}",
            f"/tenants/{tenant.tenant_id}/designs/{theirs.design_ids[0]}/summary",
            f"/tenants/{tenant.tenant_id}/agreements/{theirs.agreement_id}",
        ):
            response = api.get(path)
            assert response.status_code == 404, path
            assert errors_of(response) == ["Not found"]


def test_restricted_key(aurora_sim: AuroraSim, tenant: SimTenant) -> None:
    ops = {o["name"] for o in aurora_sim.http.get("/_sim/operations").json()["operations"]}
    assert {"list_projects", "retrieve_project", "retrieve_agreement", "create_webhook"} <= ops
    project = aurora_sim.create_project(tenant.tenant_id)
    key = aurora_sim.create_key(tenant.tenant_id, ["list_projects", "retrieve_project"])
    assert key.startswith("rk_sand_")
    with aurora_sim.api(key) as api:
        assert api.get(f"/tenants/{tenant.tenant_id}/projects").status_code == 200
        assert api.get(f"/tenants/{tenant.tenant_id}/projects/{project.project_id}").status_code == 200
        denied = api.get(f"/tenants/{tenant.tenant_id}/agreements/{project.agreement_id}")
        assert denied.status_code == 403
        assert errors_of(denied) == ["This API key is not permitted to perform this action"]


def test_version_header(aurora_sim: AuroraSim, tenant: SimTenant) -> None:
    path = f"/tenants/{tenant.tenant_id}"
    with aurora_sim.api(tenant.api_key) as api:
        assert api.get(path, headers={"Aurora-API-Version": "2024.05"}).status_code == 200
        assert api.get(path, headers={"Aurora-Version": "1999.01", "X-Aurora-Api-Version": "x"}).status_code == 200
        bad = api.get(path, headers={"Aurora-API-Version": "2022.09"})
        assert bad.status_code == 400
        errors_of(bad)


def test_project_shape_and_timestamps(aurora_sim: AuroraSim, tenant: SimTenant) -> None:
    project = aurora_sim.create_project(tenant.tenant_id, designs=2, sold_design=1)
    with aurora_sim.api(tenant.api_key) as api:
        body = api.get(f"/tenants/{tenant.tenant_id}/projects/{project.project_id}").json()["project"]
        assert body["id"] == project.project_id
        assert body["project_type"] == "residential"
        assert body["customer_first_name"]
        assert body["customer_email"]
        assert body["customer_phone"]
        location = body["location"]
        assert isinstance(location["latitude"], float)
        assert isinstance(location["longitude"], float)
        assert set(location["property_address_components"]) == {
            "street_address",
            "city",
            "region",
            "postal_code",
            "country",
        }
        assert location["property_address_components"]["country"] == "United States"
        assert "milestone" not in body
        assert TIMESTAMP.match(body["created_at"])
        owner = api.get(f"/tenants/{tenant.tenant_id}/users/{body['owner_id']}").json()["user"]
        assert owner["tenant_id"] == tenant.tenant_id
        assert owner["account_status"] == "active"
        designs = api.get(f"/tenants/{tenant.tenant_id}/projects/{project.project_id}/designs").json()["designs"]
        assert [d["id"] for d in designs] == project.design_ids
        assert designs[0]["milestone"] is None
        assert designs[1]["milestone"]["milestone"] == "sold"
        assert TIMESTAMP.match(designs[1]["milestone"]["created_at"])
        agreement = api.get(f"/tenants/{tenant.tenant_id}/agreements/{project.agreement_id}").json()["agreement"]
        assert agreement["status"] == "sent"
        assert agreement["design_id"] == project.design_ids[1]
        assert agreement["financing_id"] == project.financing_id
        assert "signed_at" not in agreement
        assert TIMESTAMP.match(agreement["created_at"])


def test_design_summary_pricing_financing(aurora_sim: AuroraSim, tenant: SimTenant) -> None:
    project = aurora_sim.create_project(tenant.tenant_id, with_battery=True)
    did = project.design_ids[0]
    with aurora_sim.api(tenant.api_key) as api:
        summary = api.get(f"/tenants/{tenant.tenant_id}/designs/{did}/summary").json()["design"]
        types = {item["component_type"] for item in summary["bill_of_materials"]}
        assert "modules" in types
        assert "batteries" in types
        assert types & {"inverters", "microinverters"}
        modules = sum(i["quantity"] for i in summary["bill_of_materials"] if i["component_type"] == "modules")
        watts = next(a["module"]["rating_stc"] for a in summary["arrays"])
        assert summary["system_size_stc"] == modules * watts  # watts, not kW
        energy = summary["energy_production"]
        assert len(energy["monthly"]) == 12
        assert re.match(r"^\d+%$", energy["annual_offset"])
        pricing = api.get(f"/tenants/{tenant.tenant_id}/designs/{did}/pricing").json()["pricing"]
        components = [c["component"] for c in pricing["system_cost_breakdown"]]
        assert components[:2] == ["starting_cost", "base_cost"]
        assert "adders_without_discounts" in components
        assert "adders" in components
        discount = next(c for c in pricing["system_cost_breakdown"] if c["component"] == "adders")
        assert discount["cost"] < 0
        assert pricing["storage_system_cost_breakdown"]
        financings = api.get(f"/tenants/{tenant.tenant_id}/designs/{did}/financings").json()["financings"]
        selected = [f for f in financings if f["selected_in_sales_mode"]]
        assert [f["id"] for f in selected] == [project.financing_id]
        one = api.get(f"/tenants/{tenant.tenant_id}/designs/{did}/financings/{project.financing_id}").json()
        assert one["financing"]["financier"]["type"] == "integrated"
        proposal = api.get(f"/tenants/{tenant.tenant_id}/designs/{did}/proposals/default").json()["proposal"]
        assert set(proposal) == {"id", "created_at", "updated_at", "proposal_template_id", "proposal_link"}
        web = api.get(f"/tenants/{tenant.tenant_id}/designs/{did}/web_proposal").json()["web_proposal"]
        assert web["url_expired"] is False
        assert httpx.get(web["url"]).status_code == 200


def test_assets_are_real_files(aurora_sim: AuroraSim, tenant: SimTenant) -> None:
    project = aurora_sim.create_project(tenant.tenant_id)
    with aurora_sim.api(tenant.api_key) as api:
        assets = api.get(f"/tenants/{tenant.tenant_id}/designs/{project.design_ids[0]}/assets").json()["assets"]
        by_type = {a["asset_type"]: a for a in assets}
        assert set(by_type) == {"Design Layout", "CAD Screenshot", "Design DXF"}
        one = api.get(f"/tenants/{tenant.tenant_id}/assets/{by_type['CAD Screenshot']['id']}").json()["asset"]
        assert one["design_id"] == project.design_ids[0]
        project_assets = api.get(f"/tenants/{tenant.tenant_id}/projects/{project.project_id}/assets").json()
        assert {a["id"] for a in project_assets["assets"]} == {a["id"] for a in assets}
    # Pre-signed: no Authorization header.
    pdf = httpx.get(by_type["Design Layout"]["url"])
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-1.4")
    assert pdf.content.rstrip().endswith(b"%%EOF")
    png = httpx.get(by_type["CAD Screenshot"]["url"])
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert b"IEND" in png.content
    dxf = httpx.get(by_type["Design DXF"]["url"])
    assert b"ENTITIES" in dxf.content
    assert dxf.content.rstrip().endswith(b"EOF")
    tampered = httpx.get(by_type["Design DXF"]["url"].replace("signature=", "signature=00"))
    assert tampered.status_code == 403


def test_pagination(aurora_sim: AuroraSim, tenant: SimTenant) -> None:
    created = aurora_sim.bulk_projects(tenant.tenant_id, 7, seed=3)
    assert len(created) == 7
    path = f"/tenants/{tenant.tenant_id}/projects"
    with aurora_sim.api(tenant.api_key) as api:
        everything = api.get(path).json()["projects"]
        assert len(everything) == 7
        stamps = [p["created_at"] for p in everything]
        assert stamps == sorted(stamps, reverse=True)
        pages = [api.get(path, params={"page": n, "per_page": 3}).json()["projects"] for n in (1, 2, 3, 4)]
        assert [len(p) for p in pages] == [3, 3, 1, 0]
        assert [p["id"] for page in pages for p in page] == [p["id"] for p in everything]
        assert set(api.get(path).json()) == {"projects"}  # bare envelope, no totals
        assert api.get(path, params={"per_page": 250}).status_code == 200
        too_big = api.get(path, params={"per_page": 251})
        assert too_big.status_code == 422
        errors_of(too_big)
        assert api.get(path, params={"page": 0}).status_code == 422


def test_create_and_update_project(aurora_sim: AuroraSim, tenant: SimTenant) -> None:
    path = f"/tenants/{tenant.tenant_id}/projects"
    with aurora_sim.api(tenant.api_key) as api:
        created = api.post(
            path,
            json={
                "project": {
                    "name": "Roof",
                    "external_provider_id": "crm-1",
                    "customer_first_name": "Ada",
                    "location": {"property_address": "434 Brannan St, San Francisco, CA 94107"},
                }
            },
        )
        assert created.status_code == 200
        project = created.json()["project"]
        assert project["external_provider_id"] == "crm-1"
        assert project["location"]["property_address_components"]["city"] == "San Francisco"
        null_string = api.post(
            path, json={"project": {"name": None, "location": {"latitude": 33.4, "longitude": -111.8}}}
        )
        assert null_string.status_code == 422
        assert errors_of(null_string) == ["name must be a string"]
        assert api.post(path, json={"project": {"name": "no address"}}).status_code == 422
        updated = api.put(f"{path}/{project['id']}", json={"project": {"status": "Project Sold"}})
        assert updated.json()["project"]["status"] == "Project Sold"
        assert updated.json()["project"]["name"] == "Roof"


def test_agreement_lifecycle_and_terminal_signed(aurora_sim: AuroraSim, tenant: SimTenant) -> None:
    project = aurora_sim.create_project(tenant.tenant_id)
    assert project.agreement_id is not None
    for status in ("viewed", "cancel-pending", "viewed", "signed"):
        aurora_sim.set_agreement_status(tenant.tenant_id, project.agreement_id, status)
    with aurora_sim.api(tenant.api_key) as api:
        agreement = api.get(f"/tenants/{tenant.tenant_id}/agreements/{project.agreement_id}").json()["agreement"]
    assert agreement["status"] == "signed"
    response = aurora_sim.http.post(
        f"/_sim/tenants/{tenant.tenant_id}/agreements/{project.agreement_id}/status", json={"status": "canceled"}
    )
    assert response.status_code == 409
    other = aurora_sim.create_project(tenant.tenant_id)
    assert other.agreement_id is not None
    aurora_sim.set_agreement_status(tenant.tenant_id, other.agreement_id, "cancel_pending")
    with aurora_sim.api(tenant.api_key) as api:
        body = api.get(f"/tenants/{tenant.tenant_id}/agreements/{other.agreement_id}").json()["agreement"]
    assert body["status"] == "cancel_pending"  # the object spells it with an underscore


def test_download_url_job_and_expiry(aurora_sim: AuroraSim, tenant: SimTenant) -> None:
    project = aurora_sim.create_project(tenant.tenant_id)
    assert project.agreement_id is not None
    base = f"/tenants/{tenant.tenant_id}/agreements/{project.agreement_id}/download_url"
    with aurora_sim.api(tenant.api_key) as api:
        unsigned = api.post(f"{base}/run")
        assert unsigned.status_code == 422
        aurora_sim.set_agreement_status(tenant.tenant_id, project.agreement_id, "signed")
        run = api.post(f"{base}/run")
        assert run.status_code == 202
        job = run.json()["agreement_download_url_job"]
        assert job["status"] == "in-progress"
        assert job["file_url"] is None
        assert job["completed_at"] is None
        assert TIMESTAMP.match(job["requested_at"])
        first = api.get(f"{base}/status", params={"job_id": job["job_id"]}).json()["agreement_download_url_job"]
        assert first["status"] == "in-progress"
        second = api.get(f"{base}/status", params={"job_id": job["job_id"]}).json()["agreement_download_url_job"]
        assert second["status"] == "succeeded"
        assert second["error"] is None
        assert second["project_id"] == project.project_id
        assert api.get(f"{base}/status", params={"job_id": "nope"}).status_code == 404
    document = httpx.get(second["file_url"])
    assert document.status_code == 200
    assert document.content.startswith(b"%PDF")
    aurora_sim.advance_clock(15 * 60 + 1)
    expired = httpx.get(second["file_url"])
    assert expired.status_code == 403


def test_consumption_profile(aurora_sim: AuroraSim, tenant: SimTenant) -> None:
    without = aurora_sim.create_project(tenant.tenant_id, with_consumption_profile=False)
    with_profile = aurora_sim.create_project(tenant.tenant_id)
    with aurora_sim.api(tenant.api_key) as api:
        missing = api.get(f"/tenants/{tenant.tenant_id}/projects/{without.project_id}/consumption_profile")
        assert missing.status_code == 404
        assert errors_of(missing) == ["Consumption profile is not filled out"]
        profile = api.get(f"/tenants/{tenant.tenant_id}/projects/{with_profile.project_id}/consumption_profile")
        body = profile.json()["consumption_profile"]
        assert body["utility"]
        assert body["utility_rate"]
        assert len(body["monthly_energy"]) == 12


def test_webhook_crud(aurora_sim: AuroraSim, tenant: SimTenant) -> None:
    path = f"/tenants/{tenant.tenant_id}/webhooks"
    body = {
        "webhook": {
            "description": "Agreement signed",
            "event": "agreement_status_changed",
            "url_template": "https://crm.example.com/hook?project_id=<PROJECT_ID>&agreement_id=<AGREEMENT_ID>&status=<STATUS>",
            "enabled": True,
            "header_auth_key": "X-Token",
            "header_auth_value": "s3cret",
        }
    }
    with aurora_sim.api(tenant.api_key) as api:
        created = api.post(path, json=body)
        assert created.status_code == 201
        hook = created.json()["webhook"]
        assert set(hook) == {"id", "event", "url_template", "description", "enabled", "header_auth_key", "created_at"}
        assert "s3cret" not in created.text
        assert api.get(f"{path}/{hook['id']}").json()["webhook"]["header_auth_key"] == "X-Token"
        assert [w["id"] for w in api.get(path).json()["webhooks"]] == [hook["id"]]
        updated = api.put(f"{path}/{hook['id']}", json={"webhook": {"enabled": False}}).json()["webhook"]
        assert updated["enabled"] is False
        assert updated["event"] == "agreement_status_changed"
        for _ in range(4):
            assert api.post(path, json=body).status_code == 201
        assert api.post(path, json=body).status_code == 422  # at most 5 per event
        assert api.post(path, json={"webhook": {"event": "nope", "url_template": "https://x"}}).status_code == 422
        assert api.delete(f"{path}/{hook['id']}").status_code == 204
        assert api.get(f"{path}/{hook['id']}").status_code == 404


def test_request_log_never_holds_the_key(aurora_sim: AuroraSim, tenant: SimTenant) -> None:
    with aurora_sim.api(tenant.api_key) as api:
        api.get(f"/tenants/{tenant.tenant_id}/users")
    entries = aurora_sim.requests(tenant_id=tenant.tenant_id, path="/users")
    assert entries
    assert entries[-1]["status"] == 200
    assert entries[-1]["method"] == "GET"
    assert tenant.api_key not in str(entries)
    assert entries[-1]["key_fingerprint"].startswith("sk_sand_…" + tenant.api_key[-4:])
    aurora_sim.http.get(f"/tenants/{tenant.tenant_id}/users")
    assert aurora_sim.requests(tenant_id=tenant.tenant_id, path="/users", status=401)


def test_bulk_generator_is_seeded_and_mixed(aurora_sim: AuroraSim) -> None:
    a = aurora_sim.create_tenant("Bulk A")
    projects = aurora_sim.bulk_projects(a.tenant_id, 60, seed=42)
    statuses = {p["agreement_status"] for p in projects}
    assert {"sent", "viewed", "signed"} <= statuses
    assert None in statuses
    assert any("sold" in p["milestones"] or "installed" in p["milestones"] for p in projects)
    b = aurora_sim.create_tenant("Bulk B")
    again = aurora_sim.bulk_projects(b.tenant_id, 60, seed=42)
    assert [p["agreement_status"] for p in again] == [p["agreement_status"] for p in projects]
