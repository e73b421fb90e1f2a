"""Post-connection configuration: workflow, mappings, strategy, log, re-sync, token replacement."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from pipeline_common.events import ImportReason
from pipeline_common.mapping_catalog import AURORA_FIELDS, STANDARD_MAPPINGS
from tests.admin.conftest import AdminApi, Company
from tests.admin.kafka import import_requests
from tests.fixtures.aurora_sim import AuroraSim, SimTenant

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]
URL = "/v1/integrations/aurora"


@pytest.fixture
async def connected(admin: AdminApi, tenant: SimTenant) -> Company:
    company = await admin.company()
    r = await company.connect(tenant)
    assert r.status_code == 201, r.text
    return company


async def test_before_connecting_integration_routes_say_not_connected(admin: AdminApi) -> None:
    company = await admin.company()
    for method, path in [("GET", URL), ("GET", f"{URL}/triggers"), ("PUT", f"{URL}/matching-strategy")]:
        r = await company.request(method, path, json={"strategy": "skip"})
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_connected"


async def test_workflow_and_strategy(connected: Company, admin: AdminApi) -> None:
    wf = (await connected.post("/v1/workflows", {"name": "Solar"})).json()
    r = await connected.put(f"{URL}/workflow", {"workflow_id": wf["id"]})
    assert r.status_code == 200
    assert r.json()["workflow"] == {"id": wf["id"], "name": "Solar"}
    r = await connected.put(f"{URL}/workflow", {"workflow_id": None})
    assert r.json()["workflow"] is None
    assert (await connected.put(f"{URL}/workflow", {"workflow_id": str(uuid.uuid4())})).status_code == 404
    assert (await connected.put(f"{URL}/workflow", {})).json()["error"]["field"] == "workflow_id"

    for strategy in ("replace", "skip", "enrich"):
        r = await connected.put(f"{URL}/matching-strategy", {"strategy": strategy})
        assert r.json()["matching_strategy"] == strategy
    r = await connected.put(f"{URL}/matching-strategy", {"strategy": "merge"})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "strategy"


async def test_standard_mappings_and_aurora_fields(connected: Company) -> None:
    standard = (await connected.get(f"{URL}/standard-mappings")).json()
    targets = {m["target"] for m in standard}
    assert len(standard) == len(STANDARD_MAPPINGS)
    for needed in (
        "contact.first_name",
        "contact.email",
        "contact.phone",
        "project.street_address",
        "project.latitude",
        "project.project_type",
        "project.system_size_kw",
        "project.contract_value",
        "project.price_per_watt",
        "project.annual_production_kwh",
        "project.module_model",
        "project.module_count",
        "project.inverter_model",
        "project.inverter_count",
        "project.sales_rep_name",
        "project.aurora_project_id",
        "project.aurora_project_url",
        "project.signed_at",
    ):
        assert needed in targets
    size = next(m for m in standard if m["target"] == "project.system_size_kw")
    assert size["source"] == "design.summary.system_size_stc / 1000"

    fields = {f["path"]: f for f in (await connected.get(f"{URL}/aurora-fields")).json()}
    assert len(fields) == len(AURORA_FIELDS)
    assert fields["design.summary.energy_production.annual"]["type"] == "number"
    assert fields["project.tags"]["compatible_property_types"] == ["multi_select", "text"]
    for path in ("pricing.price_per_watt", "financing.monthly_payment", "project.tags"):
        assert path in fields


async def test_custom_mappings(connected: Company) -> None:
    number = (
        await connected.post("/v1/custom-properties", {"key": "prod", "name": "Production", "type": "number"})
    ).json()
    text = (await connected.post("/v1/custom-properties", {"key": "notes", "name": "Notes", "type": "text"})).json()
    tags = (
        await connected.post(
            "/v1/custom-properties", {"key": "tags", "name": "Tags", "type": "multi_select", "options": ["a"]}
        )
    ).json()

    r = await connected.post(
        f"{URL}/custom-mappings",
        {"custom_property_id": number["id"], "aurora_path": "design.summary.energy_production.annual"},
    )
    assert r.status_code == 201, r.text
    mapping = r.json()
    assert mapping["aurora_type"] == "number"
    assert mapping["property_key"] == "prod"

    mismatch = await connected.post(
        f"{URL}/custom-mappings", {"custom_property_id": text["id"], "aurora_path": "pricing.price_per_watt"}
    )
    assert mismatch.status_code == 422
    error = mismatch.json()["error"]
    assert error["code"] == "incompatible_types"
    assert error["field"] == "aurora_path"
    assert "compatible property types: number" in error["message"]

    unknown = await connected.post(f"{URL}/custom-mappings", {"custom_property_id": text["id"], "aurora_path": "x.y"})
    assert unknown.status_code == 422
    assert "unknown Aurora field" in unknown.json()["error"]["message"]
    missing = await connected.post(
        f"{URL}/custom-mappings", {"custom_property_id": str(uuid.uuid4()), "aurora_path": "project.name"}
    )
    assert missing.status_code == 404
    again = await connected.post(
        f"{URL}/custom-mappings", {"custom_property_id": number["id"], "aurora_path": "pricing.system_price"}
    )
    assert again.status_code == 409
    ok = await connected.post(
        f"{URL}/custom-mappings", {"custom_property_id": tags["id"], "aurora_path": "project.tags"}
    )
    assert ok.status_code == 201

    listed = (await connected.get(f"{URL}/custom-mappings")).json()
    assert [m["property_key"] for m in listed] == ["prod", "tags"]
    assert (await connected.delete(f"{URL}/custom-mappings/{mapping['id']}")).status_code == 204
    assert (await connected.delete(f"{URL}/custom-mappings/{mapping['id']}")).status_code == 404
    assert [m["property_key"] for m in (await connected.get(f"{URL}/custom-mappings")).json()] == ["tags"]


async def test_log_is_newest_first_filtered_and_paged(connected: Company, db_pool: Any) -> None:
    integration_id = uuid.UUID((await connected.get(URL)).json()["id"])
    for n in range(5):
        await db_pool.execute(
            "INSERT INTO integration_log (company_id, integration_id, event_id, kind, aurora_project_id, action, "
            "message) VALUES ($1, $2, $3, 'import', $4, 'created', 'project created')",
            connected.id,
            integration_id,
            f"ev-{n}",
            "p-even" if n % 2 == 0 else "p-odd",
        )
    page = (await connected.get(f"{URL}/log", params={"kind": "import", "limit": 2})).json()
    assert [e["event_id"] for e in page["items"]] == ["ev-4", "ev-3"]
    page2 = (
        await connected.get(f"{URL}/log", params={"kind": "import", "limit": 2, "before": page["next_before"]})
    ).json()
    assert [e["event_id"] for e in page2["items"]] == ["ev-2", "ev-1"]
    even = (await connected.get(f"{URL}/log", params={"aurora_project_id": "p-even"})).json()["items"]
    assert [e["event_id"] for e in even] == ["ev-4", "ev-2", "ev-0"]
    everything = (await connected.get(f"{URL}/log")).json()["items"]
    assert everything[-1]["kind"] == "connected"
    counters = (await connected.get(URL)).json()["counters"]
    assert counters["imported"] == 5


async def test_resync_publishes_an_import_request(
    connected: Company, aurora_sim: AuroraSim, tenant: SimTenant, kafka_bootstrap: str
) -> None:
    project = aurora_sim.create_project(tenant.tenant_id)
    r = await connected.post(f"{URL}/resync", {"aurora_project_id": project.project_id})
    assert r.status_code == 202, r.text
    body = r.json()
    # Nothing of this project is parked (a parked import would resume with the re-sync: tests/fetcher).
    assert body["republished_parked"] == 0
    events = await import_requests(kafka_bootstrap, match={body["event_id"]})
    assert events[body["event_id"]].reason is ImportReason.RESYNC
    assert events[body["event_id"]].aurora_project_id == project.project_id
    log = (await connected.get(f"{URL}/log", params={"kind": "resync"})).json()["items"]
    assert log[0]["event_id"] == body["event_id"]

    missing = await connected.post(f"{URL}/resync", {"aurora_project_id": str(uuid.uuid4())})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "aurora_project_not_found"


async def test_rejected_token_needs_attention_until_replaced(
    connected: Company, aurora_sim: AuroraSim, tenant: SimTenant, db_pool: Any
) -> None:
    aurora_sim.revoke_key(tenant.api_key)
    project_id = str(uuid.uuid4())
    r = await connected.post(f"{URL}/resync", {"aurora_project_id": project_id})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_credentials"
    read = (await connected.get(URL)).json()
    assert read["status"] == "needs_attention"
    assert "rejected" in read["status_reason"]
    blocked = await connected.post(f"{URL}/resync", {"aurora_project_id": project_id})
    assert blocked.status_code == 409

    assert (await connected.put(f"{URL}/token", {"bearer_token": "sk_sand_still-wrong"})).status_code == 422
    assert (await connected.put(f"{URL}/token", {"bearer_token": "sk_prod_other-env"})).json()["error"]["field"] == (
        "bearer_token"
    )
    new_key = aurora_sim.create_key(tenant.tenant_id, [], kind="standard")
    r = await connected.put(f"{URL}/token", {"bearer_token": new_key})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active"
    assert r.json()["status_reason"] is None
    assert new_key not in r.text
