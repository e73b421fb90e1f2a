"""The user guide end to end through the real processes: a company is set up with the admin API, an
agreement is signed in the emulator, and the project that arrives in the CRM is checked field by field
against what Aurora holds; `project.imported` is read from Kafka by a separate consumer and checked too.

The helpers here are shared with tests/e2e/test_import_strategies.py.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from pipeline_common import topics
from tests.fixtures.pipeline import OPERATOR_TOKEN, Pipeline

IMPORT_TIMEOUT = 60.0
# The importer caches a company's settings this long; a test that changes one waits it out.
SETTINGS_TTL = 2.5


@dataclass
class AuroraTenant:
    sim: httpx.AsyncClient
    tenant_id: str
    api_key: str

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    async def new_project(self, **spec: Any) -> dict[str, Any]:
        r = await self.sim.post(f"/_sim/tenants/{self.tenant_id}/projects", json=spec)
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        return created

    async def sign(self, agreement_id: str) -> None:
        r = await self.sim.post(
            f"/_sim/tenants/{self.tenant_id}/agreements/{agreement_id}/status", json={"status": "signed"}
        )
        assert r.status_code == 200, r.text

    async def get(self, path: str) -> Any:
        r = await self.sim.get(f"/tenants/{self.tenant_id}{path}", headers=self._auth)
        assert r.status_code == 200, r.text
        return r.json()

    async def update_project(self, project_id: str, fields: dict[str, Any]) -> None:
        r = await self.sim.put(
            f"/tenants/{self.tenant_id}/projects/{project_id}", json={"project": fields}, headers=self._auth
        )
        assert r.status_code == 200, r.text


@dataclass
class CrmCompany:
    """A company driven through the admin API with its own API key."""

    admin: httpx.AsyncClient
    id: str
    key: str
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    async def call(self, method: str, path: str, expect: int, body: Any = None, **params: Any) -> Any:
        r = await self.admin.request(method, path, json=body, params=params or None, headers=self._auth)
        assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    async def connect(self, tenant: AuroraTenant) -> dict[str, Any]:
        body = {"tenant_id": tenant.tenant_id, "bearer_token": tenant.api_key}
        integration: dict[str, Any] = await self.call("POST", "/v1/integrations/aurora", 201, body)
        return integration

    async def use_workflow(self, name: str, stages: list[str]) -> str:
        workflow = await self.call("POST", "/v1/workflows", 201, {"name": name, "stages": stages})
        await self.call("PUT", "/v1/integrations/aurora/workflow", 200, {"workflow_id": workflow["id"]})
        return str(workflow["id"])

    async def set_strategy(self, strategy: str) -> None:
        await self.call("PUT", "/v1/integrations/aurora/matching-strategy", 200, {"strategy": strategy})

    async def map_property(self, key: str, type_: str, aurora_path: str, options: list[str] | None = None) -> None:
        prop = await self.call(
            "POST",
            "/v1/custom-properties",
            201,
            {"key": key, "name": key.replace("_", " ").title(), "type": type_, "options": options or []},
        )
        await self.call(
            "POST",
            "/v1/integrations/aurora/custom-mappings",
            201,
            {"custom_property_id": prop["id"], "aurora_path": aurora_path},
        )
        self.properties[key] = prop["id"]

    async def resync(self, aurora_project_id: str) -> None:
        await self.call("POST", "/v1/integrations/aurora/resync", 202, {"aurora_project_id": aurora_project_id})

    async def make_project(self, body: dict[str, Any]) -> dict[str, Any]:
        """A project typed into the CRM (POST /v1/projects), retried safely with an Idempotency-Key."""
        r = await self.admin.post(
            "/v1/projects", json=body, headers={**self._auth, "Idempotency-Key": str(uuid.uuid4())}
        )
        assert r.status_code == 201, r.text
        project: dict[str, Any] = r.json()
        return project

    async def import_log(self, aurora_project_id: str) -> list[dict[str, Any]]:
        page = await self.call(
            "GET", "/v1/integrations/aurora/log", 200, kind="import", aurora_project_id=aurora_project_id
        )
        entries: list[dict[str, Any]] = page["items"]
        return entries

    async def project_of(self, aurora_project_id: str) -> dict[str, Any]:
        page = await self.call("GET", "/v1/projects", 200, aurora_project_id=aurora_project_id)
        assert len(page["items"]) == 1, page
        detail: dict[str, Any] = await self.call("GET", f"/v1/projects/{page['items'][0]['id']}", 200)
        return detail


async def new_company(
    pipeline: Pipeline, admin: httpx.AsyncClient, sim: httpx.AsyncClient
) -> tuple[CrmCompany, AuroraTenant]:
    r = await admin.post(
        "/v1/companies",
        json={"name": f"Sunny Installs {uuid.uuid4().hex[:6]}"},
        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
    )
    assert r.status_code == 201, r.text
    company = CrmCompany(admin, r.json()["id"], r.json()["api_key"])
    t = await sim.post("/_sim/tenants", json={"name": "Aurora tenant"})
    assert t.status_code == 201, t.text
    tenant = AuroraTenant(sim, t.json()["tenant_id"], t.json()["api_key"])
    await company.connect(tenant)
    return company, tenant


async def imported(reader: Any, aurora_project_id: str, count: int = 1) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = await reader.take(
        count, timeout=IMPORT_TIMEOUT, where=lambda m: m["aurora_project_id"] == aurora_project_id
    )
    assert len(messages) == count, f"expected {count} project.imported for {aurora_project_id}, got {messages}"
    return messages


def _num(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


async def test_signed_agreement_imports_a_complete_project(
    pipeline: Pipeline, db_pool: asyncpg.Pool[Any], read_topic: Any
) -> None:
    reader = await read_topic(topics.PROJECT_IMPORTED)
    async with (
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
    ):
        company, tenant = await new_company(pipeline, admin, sim)
        workflow_id = await company.use_workflow("Residential solar", ["Site survey", "Permit", "Install"])
        created = await tenant.new_project(with_battery=True)
        await tenant.sign(created["agreement_id"])
        message = (await imported(reader, created["project_id"]))[0]

        aurora_project = (await tenant.get(f"/projects/{created['project_id']}"))["project"]
        agreement = (await tenant.get(f"/agreements/{created['agreement_id']}"))["agreement"]
        design_id = agreement["design_id"]
        summary = (await tenant.get(f"/designs/{design_id}/summary"))["design"]
        pricing = (await tenant.get(f"/designs/{design_id}/pricing"))["pricing"]
        web_proposal = (await tenant.get(f"/designs/{design_id}/web_proposal"))["web_proposal"]
        assets = (await tenant.get(f"/designs/{design_id}/assets"))["assets"]
        owner = (await tenant.get(f"/users/{aurora_project['owner_id']}"))["user"]
        detail = await company.project_of(created["project_id"])
        log = await company.call(
            "GET", "/v1/integrations/aurora/log", 200, kind="import", aurora_project_id=created["project_id"]
        )
        integration = await company.call("GET", "/v1/integrations/aurora", 200)

    # the integration's summary counts the import and knows when its last webhook arrived
    assert integration["counters"]["imported"] == 1
    assert integration["counters"]["last_event_at"] is not None

    # project.imported, consumed by a separate consumer, field by field
    assert message["schema_version"] == 1
    assert message["company_id"] == company.id
    assert message["crm_project_id"] == detail["id"]
    assert message["aurora_tenant_id"] == tenant.tenant_id
    assert message["aurora_project_id"] == created["project_id"]
    assert message["aurora_design_id"] == design_id
    assert message["action"] == "created"
    assert message["trigger"] == {"kind": "agreement_status_changed", "status": "signed"}
    assert {"project.title", "project.system_size_kw", "contact.email", "line_items", "documents"} <= set(
        message["changed_fields"]
    )
    occurred = datetime.fromisoformat(message["occurred_at"])
    received = datetime.fromisoformat(message["received_at"])
    assert received <= occurred
    headers = message["_headers"]
    assert headers["ce_id"] == message["event_id"]
    assert headers["ce_type"] == "com.crm.project.imported.v1"
    assert headers["ce_source"] == "/importer"
    assert headers["ce_subject"] == message["crm_project_id"]

    # every standard field, against what Aurora holds
    row = await db_pool.fetchrow("SELECT * FROM projects WHERE id = $1", uuid.UUID(detail["id"]))
    assert row is not None
    location = aurora_project["location"]
    components = location["property_address_components"]
    modules = [b for b in summary["bill_of_materials"] if b["component_type"] == "modules"]
    inverters = [
        b
        for b in summary["bill_of_materials"]
        if b["component_type"] in ("inverters", "microinverters", "string_inverters")
    ]
    expected = {
        "source": "aurora",
        "workflow_id": uuid.UUID(workflow_id),
        "stage": "Site survey",
        "title": aurora_project["name"],
        "full_address": location["property_address"],
        "street_address": components["street_address"],
        "city": components["city"],
        "state": components["region"],
        "postal_code": components["postal_code"],
        "country": components["country"],
        "latitude": location["latitude"],
        "longitude": location["longitude"],
        "project_type": aurora_project["project_type"],
        "system_size_kw": (_num(summary["system_size_stc"]) / 1000).quantize(Decimal("0.001")),
        "contract_value": _num(pricing["system_price"]).quantize(Decimal("0.01")),
        "price_per_watt": _num(pricing["price_per_watt"]).quantize(Decimal("0.0001")),
        "annual_production_kwh": _num(summary["energy_production"]["annual"]).quantize(Decimal("0.01")),
        "module_model": max(modules, key=lambda b: b["quantity"])["name"],
        "module_count": sum(b["quantity"] for b in modules),
        "inverter_model": max(inverters, key=lambda b: b["quantity"])["name"],
        "inverter_count": sum(b["quantity"] for b in inverters),
        "sales_rep_name": f"{owner['first_name']} {owner['last_name']}",
        "sales_rep_email": owner["email"],
        "aurora_tenant_id": tenant.tenant_id,
        "aurora_project_id": created["project_id"],
        "aurora_design_id": design_id,
        "aurora_agreement_id": created["agreement_id"],
        "aurora_project_url": f"https://v2-sandbox.aurorasolar.com/projects/{created['project_id']}",
        "aurora_status": aurora_project["status"],
        "proposal_url": web_proposal["url"],
    }
    assert {k: row[k] for k in expected} == expected
    assert row["signed_at"] is not None

    # the contact (Aurora's empty strings are blanks in the CRM)
    contact = detail["contact"]
    assert contact is not None
    assert {k: contact[k] for k in ("salutation", "first_name", "last_name", "email", "phone", "mailing_address")} == {
        "salutation": aurora_project["customer_salutation"] or None,
        "first_name": aurora_project["customer_first_name"] or None,
        "last_name": aurora_project["customer_last_name"] or None,
        "email": aurora_project["customer_email"] or None,
        "phone": aurora_project["customer_phone"] or None,
        "mailing_address": aurora_project["mailing_address"] or None,
    }

    # line items: the bill of materials, the adders and the discounts
    items = detail["line_items"]
    components_in = {
        (b["component_type"], b["name"], Decimal(str(b["quantity"]))) for b in summary["bill_of_materials"]
    }
    assert {
        (i["component_type"], i["name"], Decimal(str(i["quantity"]))) for i in items if i["kind"] == "component"
    } == components_in
    breakdown = {c["component"]: c["items"] for c in pricing["system_cost_breakdown"]}
    assert {(i["name"], Decimal(str(i["amount"]))) for i in items if i["kind"] == "adder"} == {
        (a["name"], Decimal(str(a["cost"]))) for a in breakdown["adders_without_discounts"]
    }
    assert {(i["name"], Decimal(str(i["amount"]))) for i in items if i["kind"] == "discount"} == {
        (a["name"], Decimal(str(a["cost"]))) for a in breakdown["adders"]
    }

    # documents: the design assets, the signed agreement and the proposal PDF
    asset_kinds = {"design layout": "design_layout", "cad screenshot": "cad_screenshot", "design dxf": "design_dxf"}
    expected_documents = sorted(
        ["signed_agreement", "proposal_pdf", *(asset_kinds[a["asset_type"].lower()] for a in assets)]
    )
    assert sorted(d["kind"] for d in detail["documents"]) == expected_documents
    assert len(expected_documents) == 5
    assert all(d["source"] == "aurora" and d["size"] > 0 for d in detail["documents"])

    # the integration log says what happened
    assert [e["action"] for e in log["items"]] == ["created"]
    assert log["items"][0]["details"]["design_rule"]


async def test_custom_mappings_of_each_type_including_a_failing_conversion(
    pipeline: Pipeline, db_pool: asyncpg.Pool[Any], read_topic: Any
) -> None:
    reader = await read_topic(topics.PROJECT_IMPORTED)
    async with (
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
    ):
        company, tenant = await new_company(pipeline, admin, sim)
        await company.map_property("annual_kwh", "number", "design.summary.energy_production.annual")
        await company.map_property("sim_current", "boolean", "design.summary.energy_production.up_to_date")
        await company.map_property("aurora_created", "date", "project.created_at")
        await company.map_property("project_name", "text", "project.name")
        await company.map_property("kind", "single_select", "project.project_type", ["Residential", "Commercial"])
        await company.map_property("tags", "multi_select", "project.tags", ["Priority", "Battery"])
        await company.map_property("proposal", "url", "proposal.proposal_link")
        await company.map_property("rep_email", "email", "sales_rep.email")
        await company.map_property("customer_phone", "phone", "project.customer_phone")
        # Aurora writes the template name, which is not one of the options: this one cannot convert.
        await company.map_property("template", "single_select", "agreement.agreement_template_name", ["Nothing"])
        created = await tenant.new_project()
        await tenant.update_project(created["project_id"], {"tags": ["priority"]})
        await tenant.sign(created["agreement_id"])
        message = (await imported(reader, created["project_id"]))[0]
        aurora_project = (await tenant.get(f"/projects/{created['project_id']}"))["project"]
        detail = await company.project_of(created["project_id"])
        log = await company.call(
            "GET", "/v1/integrations/aurora/log", 200, kind="import", aurora_project_id=created["project_id"]
        )

    values = {v["key"]: v["value"] for v in detail["custom_values"]}
    assert set(values) == {
        "annual_kwh",
        "sim_current",
        "aurora_created",
        "project_name",
        "kind",
        "tags",
        "proposal",
        "rep_email",
        "customer_phone",
    }
    assert isinstance(values["annual_kwh"], int | float)
    assert values["sim_current"] is True
    assert values["aurora_created"] == aurora_project["created_at"][:10]
    assert values["project_name"] == aurora_project["name"]
    assert values["kind"] == "Residential"
    assert values["tags"] == ["Priority"]
    assert values["proposal"].startswith("http")
    assert "@" in values["rep_email"]
    assert values["customer_phone"] == aurora_project["customer_phone"]
    assert message["action"] == "created"
    assert {f"custom.{k}" for k in values} <= set(message["changed_fields"])
    assert "custom.template" not in message["changed_fields"]
    row = await db_pool.fetchrow(
        "SELECT details FROM integration_log WHERE kind = 'import' AND crm_project_id = $1", uuid.UUID(detail["id"])
    )
    assert row is not None
    problems = row["details"]["conversion_problems"]
    assert [p["property"] for p in problems] == ["template"]
    entry = next(
        e for e in log["items"] if e.get("kind") == "import" and e.get("aurora_project_id") == created["project_id"]
    )
    assert "could not be converted" in entry["message"]
    await asyncio.sleep(0)
