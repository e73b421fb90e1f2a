"""Matching strategies end to end: an Aurora project imported once, changed in Aurora, then imported again
(a re-sync through the admin API, the normal fetch and import stages) under enrich, replace and skip; and a
project created by hand in the CRM (`POST /v1/projects`), matched by its address and the customer's last name.
tests/e2e/test_matching_crm_projects.py has the whole matrix (email or last name, under each strategy).

The hand-added line item of the first test is still written with SQL: the admin API has no line-item route.
"""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from pipeline_common import topics
from tests.e2e.test_import_flow import SETTINGS_TTL, imported, new_company
from tests.fixtures.pipeline import Pipeline


@pytest.mark.parametrize(("strategy", "action"), [("enrich", "updated"), ("replace", "replaced"), ("skip", "skipped")])
async def test_each_strategy_against_a_project_imported_earlier(
    strategy: str, action: str, pipeline: Pipeline, db_pool: asyncpg.Pool[Any], read_topic: Any
) -> None:
    reader = await read_topic(topics.PROJECT_IMPORTED)
    async with (
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
    ):
        company, tenant = await new_company(pipeline, admin, sim)
        created = await tenant.new_project()
        await tenant.sign(created["agreement_id"])
        first = (await imported(reader, created["project_id"]))[0]
        project_id = uuid.UUID(first["crm_project_id"])
        # Someone in the CRM adds a line item by hand; it must survive every strategy.
        await db_pool.execute(
            "INSERT INTO line_items (id, project_id, source, kind, name, quantity, amount) "
            "VALUES ($1, $2, 'manual', 'other', 'Permit fee', 1, 350)",
            uuid.uuid4(),
            project_id,
        )
        before = dict(await db_pool.fetchrow("SELECT * FROM projects WHERE id = $1", project_id))
        contact_before = dict(await db_pool.fetchrow("SELECT * FROM contacts WHERE id = $1", before["contact_id"]))

        await company.set_strategy(strategy)
        await asyncio.sleep(SETTINGS_TTL)
        # In Aurora the customer's phone is removed and the project is renamed.
        await tenant.update_project(created["project_id"], {"name": "Renamed in Aurora", "customer_phone": ""})
        await company.resync(created["project_id"])
        second = (await imported(reader, created["project_id"]))[0]

    assert second["action"] == action
    assert second["crm_project_id"] == first["crm_project_id"]
    assert second["trigger"] == {"kind": "resync", "status": None}
    after = dict(await db_pool.fetchrow("SELECT * FROM projects WHERE id = $1", project_id))
    contact_after = dict(await db_pool.fetchrow("SELECT * FROM contacts WHERE id = $1", after["contact_id"]))
    manual = await db_pool.fetchval(
        "SELECT count(*) FROM line_items WHERE project_id = $1 AND source = 'manual'", project_id
    )
    assert manual == 1
    assert (
        await db_pool.fetchval("SELECT count(*) FROM projects WHERE aurora_project_id = $1", created["project_id"]) == 1
    )
    if strategy == "skip":
        assert after == before
        assert second["changed_fields"] == []
        assert contact_after["phone"] == contact_before["phone"]
    else:
        assert after["title"] == "Renamed in Aurora"
        assert "project.title" in second["changed_fields"]
        # Enrich never blanks; replace takes Aurora's blank.
        if strategy == "enrich":
            assert contact_after["phone"] == contact_before["phone"]
            assert "contact.phone" not in second["changed_fields"]
        else:
            assert contact_after["phone"] is None
            assert "contact.phone" in second["changed_fields"]
        # What the re-sync did not read (the agreement) is kept either way.
        assert after["aurora_agreement_id"] == created["agreement_id"]
        assert after["signed_at"] == before["signed_at"]
        kinds = await db_pool.fetch("SELECT kind FROM documents WHERE project_id = $1", project_id)
        assert "signed_agreement" in {k["kind"] for k in kinds}
    log = await db_pool.fetch(
        "SELECT action, message, details FROM integration_log WHERE kind = 'import' AND crm_project_id = $1 "
        "ORDER BY id",
        project_id,
    )
    assert [e["action"] for e in log] == ["created", action]
    assert log[1]["details"]["match_rule"] == "aurora_project_id"


async def test_a_project_made_by_hand_is_matched_by_address_and_last_name(pipeline: Pipeline, read_topic: Any) -> None:
    reader = await read_topic(topics.PROJECT_IMPORTED)
    async with (
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
    ):
        company, tenant = await new_company(pipeline, admin, sim)
        created = await tenant.new_project(agreement_status="sent")
        aurora_project = (await tenant.get(f"/projects/{created['project_id']}"))["project"]
        components = aurora_project["location"]["property_address_components"]
        # Typed by hand before Aurora was connected: another email, the street spelt out, punctuation, ZIP+4.
        street = components["street_address"]
        for short, long in ((" St", " Street"), (" Ave", " Avenue"), (" Dr", " Drive"), (" Ln", " Lane")):
            if street.endswith(short):
                street = street[: -len(short)] + long + "."
        manual = await company.make_project(
            {
                "title": "Hand-made deal",
                "value": 12345,
                "contact": {
                    "first_name": aurora_project["customer_first_name"],
                    "last_name": aurora_project["customer_last_name"].upper(),
                    "email": f"hand-typed-{uuid.uuid4().hex[:6]}@example.org",
                },
                "street_address": street,
                "postal_code": f"{components['postal_code']}-0042",
            }
        )
        manual_id = uuid.UUID(manual["id"])
        await tenant.sign(created["agreement_id"])
        message = (await imported(reader, created["project_id"]))[0]
        detail = await company.project_of(created["project_id"])
        log = await company.import_log(created["project_id"])
        projects = (await company.call("GET", "/v1/projects", 200))["items"]

    assert message["action"] == "updated"
    assert message["crm_project_id"] == str(manual_id)
    assert detail["id"] == str(manual_id)
    assert detail["source"] == "manual"
    assert detail["aurora_project_id"] == created["project_id"]
    assert Decimal(detail["contract_value"]) != Decimal("12345.00")
    assert detail["title"] == aurora_project["name"]
    assert [(e["crm_project_id"], e["details"]["match_rule"]) for e in log] == [
        (str(manual_id), "address_and_last_name")
    ]
    assert "address_and_last_name" in log[0]["message"]
    assert [p["id"] for p in projects] == [str(manual_id)]
