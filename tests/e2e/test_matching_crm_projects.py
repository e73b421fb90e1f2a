"""Matching against projects made in the CRM, end to end: a project typed in through `POST /v1/projects`
before Aurora was connected, then the deal signed in the emulator, through the gateway, trigger filter,
fetcher and importer processes.

- Same property address (spelt differently) and the same customer email, or the same last name: matched.
  Under enrich the project keeps what Aurora has no value for and gains what it lacked; under replace it
  takes Aurora's values, blanks included; under skip it is untouched and the skip is logged with the rule.
- Same address, another customer: not matched, a new project is made.

"Keeps its values" follows the strategy as the user guide and the importer define enrich: a field Aurora
has a value for is updated, a field Aurora has none for keeps the CRM's value (here the customer's phone,
which the Aurora project lacks), and nothing is ever blanked.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from pipeline_common import topics
from tests.e2e.test_import_flow import AuroraTenant, imported, new_company
from tests.fixtures.pipeline import Pipeline

CRM_PHONE = "+1 480 555 0142"


def spelt_out(street: str) -> str:
    """The street as someone types it: street type written in full, a trailing dot."""
    for short, long in ((" St", " Street"), (" Ave", " Avenue"), (" Dr", " Drive"), (" Ln", " Lane")):
        if street.endswith(short):
            return street[: -len(short)] + long + "."
    return street + "."


async def aurora_deal(tenant: AuroraTenant) -> tuple[dict[str, Any], dict[str, Any]]:
    """An Aurora project whose agreement is sent, not signed (so nothing is imported yet), with no phone."""
    created = await tenant.new_project(agreement_status="sent", customer_phone=None)
    project: dict[str, Any] = (await tenant.get(f"/projects/{created['project_id']}"))["project"]
    assert project["customer_phone"] is None
    return created, project


def crm_project_body(aurora: dict[str, Any], rule: str) -> dict[str, Any]:
    components = aurora["location"]["property_address_components"]
    if rule == "address_and_email":
        contact = {"first_name": "Hand", "last_name": "Typed", "email": aurora["customer_email"].upper()}
    elif rule == "address_and_last_name":
        contact = {"first_name": aurora["customer_first_name"], "last_name": aurora["customer_last_name"].upper()}
        contact["email"] = f"hand-typed-{uuid.uuid4().hex[:6]}@example.org"
    else:  # another customer at the same address
        contact = {"first_name": "Other", "last_name": "Person", "email": f"other-{uuid.uuid4().hex[:6]}@example.org"}
    # Typed in the CRM: street spelt out, ZIP+4; no city, state or project type, a value of its own.
    return {
        "title": "Typed in the CRM",
        "value": 12345,
        "contact": {**contact, "phone": CRM_PHONE},
        "street_address": spelt_out(components["street_address"]),
        "postal_code": f"{components['postal_code']}-0042",
    }


async def sign_and_import(tenant: AuroraTenant, created: dict[str, Any], reader: Any) -> dict[str, Any]:
    await tenant.sign(created["agreement_id"])
    return (await imported(reader, created["project_id"]))[0]


@pytest.mark.parametrize("rule", ["address_and_email", "address_and_last_name"])
@pytest.mark.parametrize(("strategy", "action"), [("enrich", "updated"), ("replace", "replaced"), ("skip", "skipped")])
async def test_a_project_made_in_the_crm_is_matched(
    rule: str, strategy: str, action: str, pipeline: Pipeline, read_topic: Any
) -> None:
    reader = await read_topic(topics.PROJECT_IMPORTED)
    async with (
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
    ):
        company, tenant = await new_company(pipeline, admin, sim)
        # Set before the company's first import, so the importer reads it fresh (no cache to wait out).
        await company.set_strategy(strategy)
        created, aurora = await aurora_deal(tenant)
        before = await company.make_project(crm_project_body(aurora, rule))
        message = await sign_and_import(tenant, created, reader)
        after = await company.call("GET", f"/v1/projects/{before['id']}", 200)
        log = await company.import_log(created["project_id"])
        projects = (await company.call("GET", "/v1/projects", 200))["items"]

    components = aurora["location"]["property_address_components"]
    assert message["action"] == action
    assert message["crm_project_id"] == before["id"]
    assert [p["id"] for p in projects] == [before["id"]]
    assert [(e["action"], e["crm_project_id"], e["details"]["match_rule"]) for e in log] == [
        (action, before["id"], rule)
    ]
    assert f"matched by {rule}" in log[0]["message"]

    if strategy == "skip":
        assert after == before
        assert message["changed_fields"] == []
        assert "strategy: skip" in log[0]["message"]
        return

    # Linked to the Aurora project now, so the next import finds it by id.
    assert after["aurora_project_id"] == created["project_id"]
    assert after["source"] == "manual"
    # Gained what the CRM project lacked.
    assert after["city"] == components["city"]
    assert after["state"] == components["region"]
    assert after["project_type"] == "residential"
    assert after["system_size_kw"] is not None
    assert {"project.city", "project.system_size_kw"} <= set(message["changed_fields"])
    assert any(d["kind"] == "signed_agreement" for d in after["documents"])
    # Aurora's values where Aurora has them, under both strategies.
    assert after["title"] == aurora["name"]
    assert Decimal(after["contract_value"]) != Decimal("12345")
    assert after["contact"]["email"].lower() == aurora["customer_email"].lower()
    # Aurora has no phone: enrich keeps the one typed in the CRM, replace takes Aurora's blank.
    if strategy == "enrich":
        assert after["contact"]["phone"] == CRM_PHONE
    else:
        assert after["contact"]["phone"] is None


async def test_the_same_address_with_another_customer_is_not_matched(pipeline: Pipeline, read_topic: Any) -> None:
    reader = await read_topic(topics.PROJECT_IMPORTED)
    async with (
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
    ):
        company, tenant = await new_company(pipeline, admin, sim)
        created, aurora = await aurora_deal(tenant)
        neighbour = await company.make_project(crm_project_body(aurora, "another_customer"))
        message = await sign_and_import(tenant, created, reader)
        untouched = await company.call("GET", f"/v1/projects/{neighbour['id']}", 200)
        new = await company.project_of(created["project_id"])
        log = await company.import_log(created["project_id"])
        projects = (await company.call("GET", "/v1/projects", 200))["items"]

    assert message["action"] == "created"
    assert message["crm_project_id"] == new["id"] != neighbour["id"]
    assert untouched == neighbour
    assert {p["id"] for p in projects} == {new["id"], neighbour["id"]}
    assert [(e["action"], e["details"]["match_rule"]) for e in log] == [("created", None)]
    assert new["contact_id"] != neighbour["contact_id"]


async def test_an_address_added_later_with_patch_is_matched(pipeline: Pipeline, read_topic: Any) -> None:
    """The match key follows a PATCH of the address (the database recomputes it on every write)."""
    reader = await read_topic(topics.PROJECT_IMPORTED)
    async with (
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
    ):
        company, tenant = await new_company(pipeline, admin, sim)
        created, aurora = await aurora_deal(tenant)
        body = crm_project_body(aurora, "address_and_email")
        address = {k: body.pop(k) for k in ("street_address", "postal_code")}
        project = await company.make_project(body)
        await company.call("PATCH", f"/v1/projects/{project['id']}", 200, address)
        message = await sign_and_import(tenant, created, reader)

    assert message["action"] == "updated"
    assert message["crm_project_id"] == project["id"]
