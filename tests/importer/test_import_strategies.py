"""Each matching strategy against an existing project: one the importer created earlier (matched by the
Aurora project id) and one typed into the CRM by hand (matched by address and email or last name)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from pipeline_common.events import DocumentNotFetched, ImportAction, TriggerRef
from tests.importer.conftest import Importer, aurora_snapshot


async def _import(importer: Importer, company: Any, snapshot: dict[str, Any], **kwargs: Any) -> Any:
    event = importer.event(company, snapshot, **kwargs)
    result = await importer.writer.write(event)
    assert result.announcement is not None
    result.details["event_id"] = event.event_id
    return result


async def _add_manual_line_item_and_document(importer: Importer, project_id: str) -> None:
    await importer.pool.execute(
        "INSERT INTO line_items (id, project_id, source, kind, name, quantity, amount) "
        "VALUES ($1, $2, 'manual', 'other', 'Permit fee', 1, 350)",
        uuid.uuid4(),
        uuid.UUID(project_id),
    )
    manual = await importer.document(b"site photo " + uuid.uuid4().bytes, "photo", "roof.jpg", "image/jpeg")
    await importer.pool.execute(
        "INSERT INTO documents (id, project_id, kind, file_name, content_type, sha256, size, source) "
        "VALUES ($1, $2, 'photo', 'roof.jpg', 'image/jpeg', $3, $4, 'manual')",
        uuid.uuid4(),
        uuid.UUID(project_id),
        manual.sha256,
        manual.size,
    )


def _changed_design(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The same project later: a bigger system, a new price, no proposal link, one adder dropped."""
    snapshot["design"]["summary"]["system_size_stc"] = 9600.0
    snapshot["design"]["summary"]["bill_of_materials"][0]["quantity"] = 24
    snapshot["design"]["summary"]["bill_of_materials"].pop(2)  # the battery is gone
    snapshot["pricing"]["system_price"] = 31000.0
    snapshot["pricing"]["system_cost_breakdown"][2]["items"].pop(0)  # critter guard dropped
    snapshot["project"]["customer_phone"] = None
    snapshot["web_proposal"] = None
    snapshot["proposal"] = None
    return snapshot


async def test_enrich_updates_what_aurora_has_and_keeps_the_rest(importer: Importer) -> None:
    company = await importer.company(strategy="enrich")
    snapshot = aurora_snapshot()
    layout = await importer.document(
        b"layout v1 " + uuid.uuid4().bytes, "design_layout", "layout.pdf", "application/pdf"
    )
    first = await _import(importer, company, snapshot, documents=[layout])
    project_id = first.announcement.crm_project_id
    await _add_manual_line_item_and_document(importer, project_id)

    layout2 = await importer.document(
        b"layout v2 " + uuid.uuid4().bytes, "design_layout", "layout2.pdf", "application/pdf"
    )
    second = await _import(importer, company, _changed_design(snapshot), documents=[layout2])

    assert second.announcement.action is ImportAction.UPDATED
    assert second.announcement.crm_project_id == project_id
    assert second.details["match_rule"] == "aurora_project_id"
    project = await importer.project(project_id)
    assert project["system_size_kw"] == Decimal("9.600")
    assert project["contract_value"] == Decimal("31000.00")
    assert project["module_count"] == 24
    assert project["proposal_url"] == "https://aurora.example/wp/abc123", "enrich never blanks a field"
    contact = await importer.contact(project["contact_id"])
    assert contact["phone"] == "+1 480 555 0100", "enrich never blanks a contact field"
    items = await importer.line_items(project_id)
    names = {i["name"]: i for i in items}
    assert names["Q.PEAK DUO BLK ML-G10+ 400"]["quantity"] == Decimal("24.000")
    assert {"Powerwall 3", "Critter guard"} <= set(names), "enrich adds, it does not remove"
    assert "Permit fee" in names
    assert len(items) == 7
    docs = {d["file_name"] for d in await importer.documents(project_id)}
    assert docs == {"layout.pdf", "layout2.pdf", "roof.jpg"}
    assert set(second.announcement.changed_fields) == {
        "project.system_size_kw",
        "project.contract_value",
        "project.module_count",
        "line_items",
        "documents",
    }


async def test_replace_makes_mapped_fields_exactly_aurora(importer: Importer) -> None:
    company = await importer.company(strategy="replace")
    snapshot = aurora_snapshot()
    layout = await importer.document(
        b"layout v1 " + uuid.uuid4().bytes, "design_layout", "layout.pdf", "application/pdf"
    )
    first = await _import(importer, company, snapshot, documents=[layout])
    project_id = first.announcement.crm_project_id
    await _add_manual_line_item_and_document(importer, project_id)

    layout2 = await importer.document(
        b"layout v2 " + uuid.uuid4().bytes, "design_layout", "layout2.pdf", "application/pdf"
    )
    second = await _import(importer, company, _changed_design(snapshot), documents=[layout2])

    assert second.announcement.action is ImportAction.REPLACED
    assert second.announcement.crm_project_id == project_id
    project = await importer.project(project_id)
    assert project["system_size_kw"] == Decimal("9.600")
    assert project["proposal_url"] is None, "replace takes Aurora's blanks too"
    contact = await importer.contact(project["contact_id"])
    assert contact["phone"] is None
    items = await importer.line_items(project_id)
    assert {i["name"] for i in items} == {
        "Q.PEAK DUO BLK ML-G10+ 400",
        "IQ8PLUS-72-2-US",
        "Main panel upgrade",
        "Referral discount",
        "Permit fee",
    }
    docs = {d["file_name"] for d in await importer.documents(project_id)}
    assert docs == {"layout2.pdf", "roof.jpg"}, "Aurora's documents become the current set; manual ones stay"
    assert {"project.proposal_url", "contact.phone", "line_items", "documents"} <= set(
        second.announcement.changed_fields
    )
    assert project["signed_at"] is not None


async def test_replace_keeps_what_this_trigger_did_not_read(importer: Importer) -> None:
    """A project-status import reads no agreement: its agreement id, signed date and signed document are not
    Aurora's blanks."""
    company = await importer.company(strategy="replace")
    snapshot = aurora_snapshot()
    signed = await importer.document(b"signed " + uuid.uuid4().bytes, "signed_agreement", "a.pdf", "application/pdf")
    first = await _import(importer, company, snapshot, documents=[signed])
    project_id = first.announcement.crm_project_id
    later = aurora_snapshot(snapshot["project"]["id"])
    later["agreement"] = None
    later["financing"] = None
    trigger = TriggerRef(kind="project_status_changed", status="Installed")
    second = await _import(importer, company, later, trigger=trigger)
    assert second.announcement.action is ImportAction.REPLACED
    project = await importer.project(project_id)
    assert project["aurora_agreement_id"] == snapshot["agreement"]["id"]
    assert project["signed_at"] is not None
    assert [d["kind"] for d in await importer.documents(project_id)] == ["signed_agreement"]


async def test_replace_blanks_only_on_auroras_word_never_for_a_record_not_read(importer: Importer) -> None:
    """A design record the fetcher could not read leaves its keys out of the snapshot: replace keeps what the
    CRM has for them. An explicit null (no milestone) is Aurora's answer and is taken."""
    company = await importer.company(strategy="replace")
    await importer.map_property(company, "design_name", "text", "design.name")
    await importer.map_property(company, "milestone", "text", "design.milestone.milestone")
    snapshot = aurora_snapshot()
    snapshot["design"].update(name="Design 2", milestone={"milestone": "sold", "created_at": None})
    first = await _import(importer, company, snapshot)
    project_id = first.announcement.crm_project_id
    assert await importer.custom_values(project_id) == {"design_name": "Design 2", "milestone": "sold"}

    later = aurora_snapshot(snapshot["project"]["id"])
    later["design"] = {"id": snapshot["design"]["id"], "summary": snapshot["design"]["summary"]}  # record not read
    await _import(importer, company, later)
    assert await importer.custom_values(project_id) == {"design_name": "Design 2", "milestone": "sold"}

    latest = aurora_snapshot(snapshot["project"]["id"])
    latest["design"].update(name="Design 2", milestone=None)  # Aurora: the milestone was taken off
    await _import(importer, company, latest)
    assert await importer.custom_values(project_id) == {"design_name": "Design 2"}


async def test_replace_keeps_a_document_this_fetch_could_not_download(importer: Importer) -> None:
    """An expired file URL is not Aurora deleting the file: the copy the project has stays, and the log says why."""
    company = await importer.company(strategy="replace")
    snapshot = aurora_snapshot()
    layout = await importer.document(b"layout " + uuid.uuid4().bytes, "design_layout", "l.pdf", "application/pdf", "a1")
    dxf = await importer.document(b"dxf " + uuid.uuid4().bytes, "design_dxf", "d.dxf", "application/dxf", "a2")
    first = await _import(importer, company, snapshot, documents=[layout, dxf])
    project_id = first.announcement.crm_project_id
    missing = DocumentNotFetched(
        kind="design_layout", file_name="l.pdf", aurora_asset_id="a1", reason="Aurora 403 on download: expired"
    )
    event = importer.event(company, aurora_snapshot(snapshot["project"]["id"]), documents=[dxf])
    second = await importer.writer.write(event.model_copy(update={"documents_not_fetched": [missing]}))
    assert second.announcement is not None
    assert second.announcement.action is ImportAction.REPLACED
    assert sorted(d["kind"] for d in await importer.documents(project_id)) == ["design_dxf", "design_layout"]
    assert second.details["documents_not_fetched"][0]["aurora_asset_id"] == "a1"


async def test_the_same_bytes_under_two_kinds_are_two_documents(importer: Importer) -> None:
    company = await importer.company(strategy="replace")
    content = b"one pdf " + uuid.uuid4().bytes
    layout = await importer.document(content, "design_layout", "l.pdf", "application/pdf", "a1")
    spec = await importer.document(content, "design_file", "spec.pdf", "application/pdf", "a2")
    first = await _import(importer, company, aurora_snapshot(), documents=[layout, spec])
    project_id = first.announcement.crm_project_id
    again = await _import(
        importer, company, aurora_snapshot(first.announcement.aurora_project_id), documents=[layout, spec]
    )
    assert again.announcement.action is ImportAction.REPLACED
    documents = await importer.documents(project_id)
    assert sorted(d["kind"] for d in documents) == ["design_file", "design_layout"]
    assert "documents" not in again.announcement.changed_fields


async def test_skip_leaves_the_existing_project_untouched(importer: Importer) -> None:
    company = await importer.company(strategy="enrich")
    snapshot = aurora_snapshot()
    first = await _import(importer, company, snapshot)
    project_id = first.announcement.crm_project_id
    before = await importer.project(project_id)
    items_before = await importer.line_items(project_id)

    await importer.set_strategy(company, "skip")
    second = await _import(importer, company, _changed_design(snapshot))

    assert second.announcement.action is ImportAction.SKIPPED
    assert second.announcement.crm_project_id == project_id
    assert second.announcement.changed_fields == []
    assert await importer.project(project_id) == before
    assert await importer.line_items(project_id) == items_before
    log = await importer.pool.fetch(
        "SELECT action, message, details FROM integration_log WHERE crm_project_id = $1 ORDER BY id",
        uuid.UUID(project_id),
    )
    assert [r["action"] for r in log] == ["created", "skipped"]
    assert "skip" in log[1]["message"]
    assert log[1]["details"]["match_rule"] == "aurora_project_id"


async def test_skip_without_a_match_creates(importer: Importer) -> None:
    company = await importer.company(strategy="skip")
    result = await _import(importer, company, aurora_snapshot())
    assert result.announcement.action is ImportAction.CREATED


async def test_manual_project_matched_by_address_and_last_name(importer: Importer) -> None:
    company = await importer.company(strategy="enrich")
    # Typed by hand: different spelling and punctuation, a ZIP+4, another email for the customer.
    manual_id = await importer.manual_project(
        company,
        last_name="DOE",
        email="jd@other.example",
        street="42 Mesquite Lane.",
        postal_code="85201-4410",
        contract_value=Decimal("25000"),
        city="Mesa",
    )
    result = await _import(importer, company, aurora_snapshot())

    assert result.announcement.action is ImportAction.UPDATED
    assert result.announcement.crm_project_id == manual_id
    assert result.details["match_rule"] == "address_and_last_name"
    project = await importer.project(manual_id)
    assert project["source"] == "manual", "a hand-made project stays the company's"
    assert project["aurora_project_id"] == result.announcement.aurora_project_id, "and is now linked"
    assert project["contract_value"] == Decimal("28560.00")
    assert project["title"] == "Jane Doe - 42 Mesquite Ln"
    log = await importer.log(result.details["event_id"])
    assert log[0]["details"]["match_rule"] == "address_and_last_name"
    assert "address_and_last_name" in log[0]["message"]


async def test_a_last_name_match_keeps_the_projects_contact_under_enrich(importer: Importer) -> None:
    """The customer matched by last name is the project's contact: enriched (Aurora's email, the CRM's phone
    where Aurora has none), not swapped for a new contact that would blank the phone."""
    company = await importer.company(strategy="enrich")
    manual_id = await importer.manual_project(
        company, last_name="Doe", email="jd@other.example", street="42 Mesquite Ln", postal_code="85201"
    )
    contact_id = (await importer.project(manual_id))["contact_id"]
    snapshot = aurora_snapshot()
    snapshot["project"]["customer_phone"] = None
    result = await _import(importer, company, snapshot)

    assert result.details["match_rule"] == "address_and_last_name"
    project = await importer.project(manual_id)
    assert project["contact_id"] == contact_id
    contact = await importer.contact(contact_id)
    assert contact["phone"] == "480-555-0000"
    assert contact["email"] == snapshot["project"]["customer_email"]
    assert "contact.phone" not in result.announcement.changed_fields
    assert (
        await importer.pool.fetchval("SELECT count(*) FROM contacts WHERE company_id = $1", uuid.UUID(company.id)) == 1
    )


async def test_a_last_name_match_takes_the_contact_that_has_auroras_email(importer: Importer) -> None:
    company = await importer.company(strategy="enrich")
    snapshot = aurora_snapshot()
    manual_id = await importer.manual_project(
        company, last_name="Doe", email="jd@other.example", street="42 Mesquite Ln", postal_code="85201"
    )
    # The customer is already a contact under Aurora's email (from another deal): that contact is the one.
    known = uuid.uuid4()
    await importer.pool.execute(
        "INSERT INTO contacts (id, company_id, last_name, email) VALUES ($1, $2, 'Doe', $3)",
        known,
        uuid.UUID(company.id),
        snapshot["project"]["customer_email"].upper(),
    )
    result = await _import(importer, company, snapshot)

    assert result.details["match_rule"] == "address_and_last_name"
    assert (await importer.project(manual_id))["contact_id"] == known


async def test_manual_project_matched_by_address_and_email_under_each_strategy(importer: Importer) -> None:
    for strategy, action in (("replace", ImportAction.REPLACED), ("skip", ImportAction.SKIPPED)):
        company = await importer.company(strategy=strategy)
        snapshot = aurora_snapshot()
        manual_id = await importer.manual_project(
            company,
            last_name="Smith-Doe",
            email=snapshot["project"]["customer_email"].upper(),
            street="42 mesquite ln",
            postal_code="85201",
            contract_value=Decimal("25000"),
            annual_production_kwh=Decimal("999"),
        )
        snapshot["design"]["summary"]["energy_production"]["annual"] = None
        result = await _import(importer, company, snapshot)
        assert result.announcement.action is action
        assert result.announcement.crm_project_id == manual_id
        assert result.details["match_rule"] == "address_and_email"
        project = await importer.project(manual_id)
        if strategy == "replace":
            assert project["annual_production_kwh"] is None
            assert project["contract_value"] == Decimal("28560.00")
            assert project["aurora_project_id"] == snapshot["project"]["id"]
        else:
            assert project["annual_production_kwh"] == Decimal("999.00")
            assert project["aurora_project_id"] is None


async def test_no_match_on_same_address_with_another_customer(importer: Importer) -> None:
    company = await importer.company()
    manual_id = await importer.manual_project(
        company, last_name="Someone", email="else@example.com", street="42 Mesquite Ln", postal_code="85201"
    )
    result = await _import(importer, company, aurora_snapshot())
    assert result.announcement.action is ImportAction.CREATED
    assert result.announcement.crm_project_id != manual_id


async def test_no_match_across_companies_or_with_a_project_linked_elsewhere(importer: Importer) -> None:
    other = await importer.company()
    snapshot = aurora_snapshot()
    other_result = await _import(importer, other, snapshot)
    company = await importer.company()
    result = await _import(importer, company, snapshot)
    assert result.announcement.action is ImportAction.CREATED
    assert result.announcement.crm_project_id != other_result.announcement.crm_project_id
    # Another Aurora project at the same address for the same customer: its own CRM project.
    sibling = aurora_snapshot()
    sibling["project"]["customer_email"] = snapshot["project"]["customer_email"]
    again = await _import(importer, company, sibling)
    assert again.announcement.action is ImportAction.CREATED
    assert again.announcement.crm_project_id != result.announcement.crm_project_id
