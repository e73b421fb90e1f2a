"""Custom mappings of every property type (including values that do not convert), redelivery idempotency and
changed_fields across imports."""

from __future__ import annotations

import uuid

from importer.writer import STAGE
from pipeline_common.events import ImportAction
from tests.importer.conftest import Company, Importer, aurora_snapshot


async def _map_every_type(importer: Importer, company: Company) -> None:
    await importer.map_property(company, "annual_kwh", "number", "design.summary.energy_production.annual")
    await importer.map_property(company, "offset_pct", "number", "design.summary.energy_production.annual_offset")
    await importer.map_property(company, "sim_current", "boolean", "design.summary.energy_production.up_to_date")
    await importer.map_property(company, "aurora_created", "date", "project.created_at")
    await importer.map_property(company, "financier", "text", "financing.financier.provider")
    await importer.map_property(
        company, "finance_type", "single_select", "financing.financing_option", options=["Cash", "Loans", "Lease"]
    )
    await importer.map_property(
        company, "tags", "multi_select", "project.tags", options=["Priority", "Battery", "Referral"]
    )
    await importer.map_property(company, "proposal", "url", "web_proposal.url")
    await importer.map_property(company, "rep_email", "email", "sales_rep.email")
    await importer.map_property(company, "rep_phone", "phone", "sales_rep.phone")


async def test_custom_mappings_of_every_type(importer: Importer) -> None:
    company = await importer.company()
    await _map_every_type(importer, company)
    event = importer.event(company, aurora_snapshot())
    result = await importer.writer.write(event)
    assert result.announcement is not None
    assert result.announcement.crm_project_id

    values = await importer.custom_values(result.announcement.crm_project_id)
    assert values == {
        "annual_kwh": 12650,
        "offset_pct": 87,
        "sim_current": True,
        "aurora_created": "2026-02-20",
        "financier": "goodleap",
        "finance_type": "Loans",
        "tags": ["Priority", "Battery"],
        "proposal": "https://aurora.example/wp/abc123",
        "rep_email": "sam@installer.example",
        "rep_phone": "+1 480 555 0199",
    }
    assert {f"custom.{k}" for k in values} <= set(result.announcement.changed_fields)
    assert "conversion_problems" not in (await importer.log(event.event_id))[0]["details"]


async def test_a_value_that_does_not_convert_is_logged_and_the_rest_imports(importer: Importer) -> None:
    company = await importer.company()
    await _map_every_type(importer, company)
    await importer.map_property(company, "system_kind", "single_select", "project.project_type", options=["Commercial"])
    snapshot = aurora_snapshot()
    snapshot["design"]["summary"]["energy_production"]["annual_offset"] = "n/a"
    snapshot["project"]["created_at"] = "last tuesday"
    snapshot["project"]["tags"] = ["priority", "vip"]
    snapshot["web_proposal"]["url"] = "not a url"
    snapshot["sales_rep"]["email"] = "sam at installer"
    snapshot["sales_rep"]["phone"] = "call me"
    snapshot["design"]["summary"]["energy_production"]["up_to_date"] = "maybe"
    event = importer.event(company, snapshot)

    result = await importer.writer.write(event)

    assert result.announcement is not None
    assert result.announcement.action is ImportAction.CREATED
    project_id = result.announcement.crm_project_id
    assert project_id
    values = await importer.custom_values(project_id)
    assert values == {"annual_kwh": 12650, "financier": "goodleap", "finance_type": "Loans"}
    project = await importer.project(project_id)
    assert project["contract_value"] is not None, "the rest of the import happened"
    entry = (await importer.log(event.event_id))[0]
    problems = {p["property"]: p for p in entry["details"]["conversion_problems"]}
    assert set(problems) == {
        "offset_pct",
        "aurora_created",
        "tags",
        "proposal",
        "rep_email",
        "rep_phone",
        "sim_current",
        "system_kind",
    }
    assert problems["system_kind"]["value"] == "residential"
    assert "not an option" in problems["system_kind"]["error"]
    assert problems["offset_pct"]["aurora_path"] == "design.summary.energy_production.annual_offset"
    assert "could not be converted" in entry["message"]


async def test_failed_conversion_keeps_the_stored_value_even_under_replace(importer: Importer) -> None:
    company = await importer.company(strategy="replace")
    await importer.map_property(company, "offset_pct", "number", "design.summary.energy_production.annual_offset")
    await importer.map_property(company, "financier", "text", "financing.financier.provider")
    snapshot = aurora_snapshot()
    first = await importer.writer.write(importer.event(company, snapshot))
    assert first.announcement
    assert first.announcement.crm_project_id
    snapshot["design"]["summary"]["energy_production"]["annual_offset"] = "n/a"
    snapshot["financing"]["financier"] = None
    second = await importer.writer.write(importer.event(company, snapshot))
    assert second.announcement is not None
    values = await importer.custom_values(first.announcement.crm_project_id)
    assert values == {"offset_pct": 87}, "a failed conversion keeps the value; Aurora's blank removes it"
    assert "custom.financier" in second.announcement.changed_fields
    assert "custom.offset_pct" not in second.announcement.changed_fields


async def test_redelivery_changes_nothing(importer: Importer) -> None:
    company = await importer.company()
    await _map_every_type(importer, company)
    doc = await importer.document(b"agreement " + uuid.uuid4().bytes, "signed_agreement", "a.pdf", "application/pdf")
    event = importer.event(company, aurora_snapshot(), documents=[doc, doc])

    first = await importer.writer.write(event)
    again = await importer.writer.write(event)

    assert first.announcement is not None
    assert first.announcement.crm_project_id
    assert again.duplicate
    assert again.announcement is None
    project_id = uuid.UUID(first.announcement.crm_project_id)
    counts = await importer.pool.fetchrow(
        "SELECT (SELECT count(*) FROM projects WHERE aurora_project_id = $2) AS projects, "
        "(SELECT count(*) FROM line_items WHERE project_id = $1) AS items, "
        "(SELECT count(*) FROM documents WHERE project_id = $1) AS documents, "
        "(SELECT count(*) FROM custom_values WHERE project_id = $1) AS values, "
        "(SELECT count(*) FROM integration_log WHERE event_id = $3) AS log, "
        "(SELECT count(*) FROM processed_events WHERE stage = $4 AND event_id = $3) AS processed",
        project_id,
        event.aurora_project_id,
        event.event_id,
        STAGE,
    )
    assert dict(counts) == {"projects": 1, "items": 6, "documents": 1, "values": 10, "log": 1, "processed": 1}
    assert len(await importer.outbox(first.announcement.event_id)) == 1


async def test_a_new_event_with_the_same_data_changes_no_field(importer: Importer) -> None:
    company = await importer.company()
    await _map_every_type(importer, company)
    snapshot = aurora_snapshot()
    doc = await importer.document(b"agreement " + uuid.uuid4().bytes, "signed_agreement", "a.pdf", "application/pdf")
    first = await importer.writer.write(importer.event(company, snapshot, documents=[doc]))
    second = await importer.writer.write(importer.event(company, snapshot, documents=[doc]))
    assert first.announcement
    assert second.announcement
    assert second.announcement.action is ImportAction.UPDATED
    assert second.announcement.crm_project_id == first.announcement.crm_project_id
    assert second.announcement.changed_fields == []
    assert second.announcement.event_id != first.announcement.event_id


async def test_changed_fields_name_exactly_what_changed(importer: Importer) -> None:
    company = await importer.company()
    await importer.map_property(company, "financier", "text", "financing.financier.provider")
    snapshot = aurora_snapshot()
    await importer.writer.write(importer.event(company, snapshot))
    snapshot["project"]["customer_first_name"] = "Janet"
    snapshot["project"]["status"] = "Installed"
    snapshot["financing"]["financier"]["provider"] = "mosaic"
    snapshot["pricing"]["system_cost_breakdown"][3]["items"][0]["cost"] = -750.0
    result = await importer.writer.write(importer.event(company, snapshot))
    assert result.announcement is not None
    assert sorted(result.announcement.changed_fields) == [
        "contact.first_name",
        "custom.financier",
        "line_items",
        "project.aurora_status",
    ]
