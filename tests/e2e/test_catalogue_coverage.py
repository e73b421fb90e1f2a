"""Every path the mapping catalogue advertises arrives, converted, on every import path.

For each of the four ways a project is imported (agreement trigger, project-status trigger, admin re-sync,
admin backfill) the test walks the WHOLE catalogue as the admin API serves it (`GET …/aurora-fields`), maps
each path onto a custom property of a compatible type, fills every path in the emulator through its control
API, imports through the real processes, and compares each custom value with what Aurora's API holds for
that path, converted to the property's type. A catalogue entry the emulator cannot fill, or that an import
path leaves empty, fails here.

The signed deal also carries its agreement, signed PDF, financing and signed date on every path (Aurora has
no "list agreements" call: the integration hears every agreement and records it, trigger or not).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from pipeline_common import topics
from pipeline_common.mapping_catalog import resolve_path
from tests.e2e.test_import_flow import SETTINGS_TTL, AuroraTenant, CrmCompany, imported, new_company
from tests.e2e.test_triggers_and_designs import eventually
from tests.fixtures.pipeline import Pipeline

TRIGGERS = "/v1/integrations/aurora/triggers"
READY = "Catalogue Check"
TAGS = ["priority", "battery"]
TAG_OPTIONS = ["Priority", "Battery"]
IMPORT_PATHS = ("agreement_trigger", "project_status_trigger", "resync", "backfill")


def _key(path: str) -> str:
    key = path.replace(".", "_")
    assert len(key) <= 63, f"catalogue path {path!r} is too long for a property key"
    return key


def _property_type(field: dict[str, Any]) -> str:
    # The first compatible type is the natural one (text for text, number for number, multi select for lists).
    return str(field["compatible_property_types"][0])


def _expected(property_type: str, raw: Any) -> Any:
    """Aurora's value as the property holds it, written out independently of the importer's conversions."""
    if property_type == "number":
        return float(raw)
    if property_type == "date":
        # Aurora's timestamps are "YYYY-MM-DD HH:MM:SS UTC"; a date property keeps the UTC day.
        return str(raw)[:10]
    if property_type == "multi_select":
        return [o for o in TAG_OPTIONS if o.casefold() in {str(v).casefold() for v in raw}]
    if property_type == "boolean":
        return bool(raw)
    return str(raw)


def _stored(property_type: str, value: Any) -> Any:
    return float(value) if property_type == "number" else value


async def _aurora_snapshot(tenant: AuroraTenant, project_id: str, agreement_id: str) -> dict[str, Any]:
    """What Aurora's documented API holds for the project, read by the test itself, in the catalogue's shape."""
    project = (await tenant.get(f"/projects/{project_id}"))["project"]
    agreement = (await tenant.get(f"/agreements/{agreement_id}"))["agreement"]
    design_id = agreement["design_id"]
    design = (await tenant.get(f"/designs/{design_id}"))["design"]
    design["summary"] = (await tenant.get(f"/designs/{design_id}/summary"))["design"]
    financings = (await tenant.get(f"/designs/{design_id}/financings"))["financings"]
    return {
        "project": project,
        "design": design,
        "pricing": (await tenant.get(f"/designs/{design_id}/pricing"))["pricing"],
        "financing": next(f for f in financings if f["selected_in_sales_mode"]),
        "agreement": agreement,
        "proposal": (await tenant.get(f"/designs/{design_id}/proposals/default"))["proposal"],
        "web_proposal": (await tenant.get(f"/designs/{design_id}/web_proposal"))["web_proposal"],
        "sales_rep": (await tenant.get(f"/users/{project['owner_id']}"))["user"],
    }


async def _map_the_whole_catalogue(company: CrmCompany) -> list[dict[str, Any]]:
    fields: list[dict[str, Any]] = await company.call("GET", "/v1/integrations/aurora/aurora-fields", 200)
    assert len(fields) > 50, fields
    for field in fields:
        kind = _property_type(field)
        await company.map_property(_key(field["path"]), kind, field["path"], TAG_OPTIONS if "select" in kind else None)
    return fields


async def _heard(company: CrmCompany, aurora_project_id: str, status: str) -> None:
    """Waits until the trigger filter has handled the project's agreement webhook with this status."""

    async def logged() -> bool:
        page = await company.call(
            "GET", "/v1/integrations/aurora/log", 200, kind="webhook", aurora_project_id=aurora_project_id
        )
        return any(e["message"].startswith(f"agreement_status_changed {status}") for e in page["items"])

    assert await eventually(logged), f"the {status} agreement webhook of {aurora_project_id} was never handled"


async def _import(
    how: str, company: CrmCompany, tenant: AuroraTenant, sim: httpx.AsyncClient, reader: Any
) -> tuple[dict[str, Any], datetime, datetime]:
    """Creates a fully filled signed deal and imports it the given way; returns it and the signing window."""
    if how != "agreement_trigger":
        # Agreements are not a trigger here, yet their webhooks are still heard and recorded.
        statuses = [READY] if how in ("project_status_trigger", "backfill") else ["Never Reached"]
        await company.call(
            "PUT", TRIGGERS, 200, {"triggers": [{"kind": "project_status_changed", "statuses": statuses}]}
        )
        await asyncio.sleep(SETTINGS_TTL)
    created = await tenant.new_project(
        project={
            "external_provider_id": "crm-ext-42",
            "customer_salutation": "Ms.",
            "order_id": "order-7",
            "tags": TAGS,
            **({"status": READY} if how == "backfill" else {}),
        },
        design={"name": "Catalogue design", "external_provider_id": "design-ext-42"},
        signing_provider="dropbox_sign",  # Docusign agreements report no sent_at / last_viewed_at
        sold_design=0,
        with_financing=True,
        agreement_status="sent",
    )
    await _heard(company, created["project_id"], "sent")
    signing_from = datetime.now(UTC)
    await tenant.sign(created["agreement_id"])
    if how == "agreement_trigger":
        await imported(reader, created["project_id"])
        return created, signing_from, datetime.now(UTC)
    await _heard(company, created["project_id"], "signed")
    signing_until = datetime.now(UTC)
    if how == "project_status_trigger":
        r = await sim.post(
            f"/_sim/tenants/{tenant.tenant_id}/projects/{created['project_id']}/status", json={"status": READY}
        )
        assert r.status_code == 200, r.text
    elif how == "resync":
        await company.resync(created["project_id"])
    else:
        started = await company.call("POST", "/v1/integrations/aurora/backfill", 202, {})
        assert started["status"] == "running"
    await imported(reader, created["project_id"])
    return created, signing_from, signing_until


@pytest.mark.parametrize("how", IMPORT_PATHS)
async def test_every_catalogue_path_arrives_converted(pipeline: Pipeline, read_topic: Any, how: str) -> None:
    reader = await read_topic(topics.PROJECT_IMPORTED)
    async with (
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
    ):
        company, tenant = await new_company(pipeline, admin, sim)
        fields = await _map_the_whole_catalogue(company)
        created, signing_from, signing_until = await _import(how, company, tenant, sim, reader)
        aurora = await _aurora_snapshot(tenant, created["project_id"], created["agreement_id"])
        detail = await company.project_of(created["project_id"])

    empty_in_aurora = [f["path"] for f in fields if resolve_path(aurora, f["path"]) in (None, "", [])]
    assert not empty_in_aurora, f"the emulator does not fill these catalogue paths: {empty_in_aurora}"

    values = {v["key"]: v["value"] for v in detail["custom_values"]}
    wrong = {}
    for field in fields:
        kind = _property_type(field)
        expected = _expected(kind, resolve_path(aurora, field["path"]))
        actual = values.get(_key(field["path"]))
        if actual is None or _stored(kind, actual) != expected:
            wrong[field["path"]] = {"expected": expected, "imported": actual}
    assert not wrong, f"{how}: {len(wrong)} of {len(fields)} catalogue paths did not arrive: {wrong}"

    # The signed deal itself, whichever way it came in.
    assert detail["aurora_agreement_id"] == created["agreement_id"]
    assert "signed_agreement" in {d["kind"] for d in detail["documents"]}
    signed_at = datetime.fromisoformat(detail["signed_at"])
    assert signing_from <= signed_at <= signing_until, (signing_from, signed_at, signing_until)
