"""A project Aurora has and the CRM does not: every standard field, the contact, the workflow, line items,
documents, the log entry and the `project.imported` outbox row, from one call of the writer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import orjson

from importer.writer import STAGE
from pipeline_common.events import ImportAction, ProjectImported, TriggerRef
from pipeline_common.mapping_catalog import STANDARD_MAPPINGS
from tests.importer.conftest import RECEIVED_AT, Importer, aurora_snapshot


async def test_every_standard_field_lands(importer: Importer) -> None:
    company = await importer.company()
    snapshot = aurora_snapshot()
    documents = [
        await importer.document(
            b"%PDF-1.4 signed " + uuid.uuid4().bytes, "signed_agreement", "agreement.pdf", "application/pdf"
        ),
        await importer.document(
            b"%PDF-1.4 layout " + uuid.uuid4().bytes, "design_layout", "layout.pdf", "application/pdf", "asset-1"
        ),
        await importer.document(
            b"\x89PNG shot " + uuid.uuid4().bytes, "cad_screenshot", "shot.png", "image/png", "asset-2"
        ),
    ]
    event = importer.event(company, snapshot, documents=documents)

    result = await importer.writer.write(event)

    announcement = result.announcement
    assert announcement is not None
    assert announcement.action is ImportAction.CREATED
    assert announcement.crm_project_id is not None
    project = await importer.project(announcement.crm_project_id)
    project_id = snapshot["project"]["id"]
    design_id = snapshot["design"]["id"]
    assert project["company_id"] == uuid.UUID(company.id)
    assert project["source"] == "aurora"
    assert project["workflow_id"] == uuid.UUID(str(company.workflow_id))
    assert project["stage"] == "Site survey"
    assert project["aurora_tenant_id"] == company.tenant_id
    expected = {
        "title": "Jane Doe - 42 Mesquite Ln",
        "full_address": "42 Mesquite Ln, Mesa, AZ 85201, USA",
        "street_address": "42 Mesquite Ln",
        "city": "Mesa",
        "state": "AZ",
        "postal_code": "85201",
        "country": "United States",
        "latitude": 33.4152,
        "longitude": -111.8315,
        "project_type": "residential",
        "system_size_kw": Decimal("8.400"),
        "contract_value": Decimal("28560.00"),
        "price_per_watt": Decimal("3.4000"),
        "annual_production_kwh": Decimal("12650.00"),
        "module_model": "Q.PEAK DUO BLK ML-G10+ 400",
        "module_count": 21,
        "inverter_model": "IQ8PLUS-72-2-US",
        "inverter_count": 21,
        "sales_rep_name": "Sam Seller",
        "sales_rep_email": "sam@installer.example",
        "aurora_project_id": project_id,
        "aurora_design_id": design_id,
        "aurora_agreement_id": snapshot["agreement"]["id"],
        "aurora_project_url": f"https://v2-sandbox.aurorasolar.com/projects/{project_id}",
        "aurora_status": "Design Ready",
        "proposal_url": "https://aurora.example/wp/abc123",
        "signed_at": RECEIVED_AT,
    }
    assert {k: project[k] for k in expected} == expected
    project_targets = {m.target.split(".", 1)[1] for m in STANDARD_MAPPINGS if m.target.startswith("project.")}
    assert project_targets == set(expected), "a standard mapping without an assertion here"
    assert project["address_key"] == "42 mesquite ln 85201"

    contact = await importer.contact(project["contact_id"])
    assert {k: contact[k] for k in ("salutation", "first_name", "last_name", "email", "phone", "mailing_address")} == {
        "salutation": "Ms.",
        "first_name": "Jane",
        "last_name": "Doe",
        "email": snapshot["project"]["customer_email"],
        "phone": "+1 480 555 0100",
        "mailing_address": "PO Box 12, Mesa, AZ 85201",
    }

    items = await importer.line_items(announcement.crm_project_id)
    summary = {
        (i["kind"], i["component_type"], i["manufacturer"], i["name"], i["sku"], i["quantity"], i["amount"])
        for i in items
    }
    assert summary == {
        (
            "component",
            "modules",
            "Hanwha Q CELLS",
            "Q.PEAK DUO BLK ML-G10+ 400",
            "Q.PEAK-DUO-400",
            Decimal("21.000"),
            None,
        ),
        (
            "component",
            "microinverters",
            "Enphase Energy",
            "IQ8PLUS-72-2-US",
            "IQ8PLUS-72-2-US",
            Decimal("21.000"),
            None,
        ),
        ("component", "batteries", "Tesla", "Powerwall 3", "TESLA-PW3", Decimal("1.000"), None),
        ("adder", None, None, "Critter guard", None, Decimal("1.000"), Decimal("560.00")),
        ("adder", None, None, "Main panel upgrade", None, Decimal("1.000"), Decimal("1200.00")),
        ("discount", None, None, "Referral discount", None, Decimal("1.000"), Decimal("-500.00")),
    }
    assert all(i["source"] == "aurora" and i["aurora_ref"] for i in items)

    docs = await importer.documents(announcement.crm_project_id)
    assert {(d["kind"], d["file_name"], d["source"], d["sha256"]) for d in docs} == {
        (d.kind, d.file_name, "aurora", d.sha256) for d in documents
    }

    log = await importer.log(event.event_id)
    assert len(log) == 1
    entry = log[0]
    assert entry["kind"] == "import"
    assert entry["action"] == "created"
    assert entry["crm_project_id"] == uuid.UUID(announcement.crm_project_id)
    assert entry["details"]["design_rule"] == "agreement_design"
    assert entry["details"]["match_rule"] is None
    assert entry["details"]["strategy"] == "enrich"

    outbox = await importer.outbox(announcement.event_id)
    assert len(outbox) == 1
    message = ProjectImported.from_bytes(outbox[0]["payload"])
    assert message == announcement
    assert message.schema_version == 1
    assert message.company_id == company.id
    assert message.aurora_tenant_id == company.tenant_id
    assert message.aurora_project_id == project_id
    assert message.aurora_design_id == design_id
    assert message.trigger == TriggerRef(kind="agreement_status_changed", status="signed")
    assert message.received_at == RECEIVED_AT
    assert message.occurred_at <= datetime.now(UTC)
    assert outbox[0]["message_key"] == f"{company.integration_id}:{project_id}".encode()
    headers = outbox[0]["headers"]
    headers = orjson.loads(headers) if isinstance(headers, str) else headers
    assert headers["ce_type"] == "com.crm.project.imported.v1"
    assert headers["ce_subject"] == announcement.crm_project_id
    expected_changed = {f"project.{k}" for k, v in expected.items() if v is not None}
    expected_changed |= {
        f"contact.{k}" for k in ("salutation", "first_name", "last_name", "email", "phone", "mailing_address")
    }
    expected_changed |= {"line_items", "documents"}
    assert set(message.changed_fields) == expected_changed

    processed = await importer.pool.fetchval(
        "SELECT count(*) FROM processed_events WHERE stage = $1 AND event_id = $2", STAGE, event.event_id
    )
    assert processed == 1


async def test_no_workflow_means_no_stage(importer: Importer) -> None:
    company = await importer.company(workflow=False)
    result = await importer.writer.write(importer.event(company, aurora_snapshot()))
    assert result.announcement is not None
    assert result.announcement.crm_project_id
    project = await importer.project(result.announcement.crm_project_id)
    assert project["workflow_id"] is None
    assert project["stage"] is None


async def test_sparse_project_without_design_or_agreement(importer: Importer) -> None:
    company = await importer.company()
    snapshot = aurora_snapshot()
    snapshot.update(design=None, pricing=None, financing=None, agreement=None, proposal=None, web_proposal=None)
    snapshot["project"]["name"] = None
    trigger = TriggerRef(kind="project_status_changed", status="Design Ready")
    result = await importer.writer.write(importer.event(company, snapshot, trigger=trigger))
    assert result.announcement is not None
    assert result.announcement.crm_project_id
    project = await importer.project(result.announcement.crm_project_id)
    assert project["title"] == "42 Mesquite Ln, Mesa, AZ 85201, USA"
    assert project["system_size_kw"] is None
    assert project["signed_at"] is None
    assert await importer.line_items(result.announcement.crm_project_id) == []


async def test_the_same_customer_is_one_contact(importer: Importer) -> None:
    company = await importer.company()
    first = aurora_snapshot()
    second = aurora_snapshot()
    second["project"]["customer_email"] = first["project"]["customer_email"].upper()
    second["project"]["customer_phone"] = "+1 480 555 0111"
    a = await importer.writer.write(importer.event(company, first))
    b = await importer.writer.write(importer.event(company, second))
    assert a.announcement
    assert b.announcement
    assert a.announcement.crm_project_id
    assert b.announcement.crm_project_id
    pa = await importer.project(a.announcement.crm_project_id)
    pb = await importer.project(b.announcement.crm_project_id)
    assert pa["id"] != pb["id"]
    assert pa["contact_id"] == pb["contact_id"]
    assert (await importer.contact(pa["contact_id"]))["phone"] == "+1 480 555 0111"


async def test_backfill_counters(importer: Importer) -> None:
    company = await importer.company(strategy="skip")
    backfill_id = uuid.uuid4()
    await importer.pool.execute(
        "INSERT INTO backfills (id, integration_id) VALUES ($1, $2)", backfill_id, uuid.UUID(company.integration_id)
    )
    snapshot = aurora_snapshot()
    await importer.writer.write(importer.event(company, snapshot, backfill_id=str(backfill_id)))
    await importer.writer.write(importer.event(company, snapshot, backfill_id=str(backfill_id)))
    failing = importer.event(company, aurora_snapshot(), backfill_id=str(backfill_id))
    await importer.writer.record_failure(failing, "boom")
    await importer.writer.record_failure(failing, "boom again")
    row = await importer.pool.fetchrow(
        "SELECT imported, skipped, failed FROM backfill_progress WHERE id = $1", backfill_id
    )
    assert dict(row) == {"imported": 1, "skipped": 1, "failed": 1}
    failed_log = await importer.log(failing.event_id)
    assert [e["action"] for e in failed_log] == ["failed"]


async def test_disconnected_integration_imports_nothing(importer: Importer) -> None:
    company = await importer.company()
    await importer.pool.execute(
        "UPDATE integrations SET status = 'disconnected' WHERE id = $1", uuid.UUID(company.integration_id)
    )
    event = importer.event(company, aurora_snapshot())
    result = await importer.writer.write(event)
    assert result.announcement is None
    assert not result.duplicate
    assert (
        await importer.pool.fetchval(
            "SELECT count(*) FROM projects WHERE aurora_project_id = $1", event.aurora_project_id
        )
        == 0
    )
    assert [e["action"] for e in await importer.log(event.event_id)] == ["skipped"]


async def test_an_unknown_integration_is_recorded_and_ignored(importer: Importer) -> None:
    company = await importer.company()
    event = importer.event(company, aurora_snapshot())
    foreign = event.model_copy(update={"integration_id": str(uuid.uuid4()), "company_id": str(uuid.uuid4())})
    result = await importer.writer.write(foreign)
    assert result.announcement is None
    assert result.details == {"reason": "unknown integration"}
    assert (await importer.writer.write(foreign)).duplicate
    await importer.writer.record_failure(foreign, "no company to log for: must not raise")
