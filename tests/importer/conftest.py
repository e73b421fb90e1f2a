"""Component fixtures for the importer: a company with a connected integration set up in the database, and
realistic `aurora.project.fetched` events (the snapshot has the shapes the fetcher builds from the emulator)."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from importer.integration_settings import IntegrationSettingsCache
from importer.writer import ProjectWriter
from pipeline_common.documents import store_blob
from pipeline_common.events import DocumentRef, ImportReason, ProjectFetched, TriggerRef

RECEIVED_AT = datetime(2026, 3, 2, 17, 4, 5, tzinfo=UTC)


def aurora_snapshot(project_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    """One project as the fetcher reads it: project, chosen design with summary, pricing, financing,
    agreement, proposal, web proposal and the sales rep (Aurora's JSON, timestamps as the client dumps them)."""
    project_id = project_id or str(uuid.uuid4())
    design_id = str(uuid.uuid4())
    agreement_id = str(uuid.uuid4())
    snapshot: dict[str, Any] = {
        "project": {
            "id": project_id,
            "name": "Jane Doe - 42 Mesquite Ln",
            "external_provider_id": None,
            "status": "Design Ready",
            "tags": ["priority", "battery"],
            "project_type": "residential",
            "customer_salutation": "Ms.",
            "customer_first_name": "Jane",
            "customer_last_name": "Doe",
            "customer_email": f"jane.doe.{project_id[:6]}@example.com",
            "customer_phone": "+1 480 555 0100",
            "mailing_address": "PO Box 12, Mesa, AZ 85201",
            "owner_id": "user-7",
            "team_id": "team-1",
            "partner_id": None,
            "created_at": "2026-02-20T09:30:00Z",
            "order_id": None,
            "ahj_id": "40123",
            "preferred_solar_modules": [],
            "location": {
                "property_address": "42 Mesquite Ln, Mesa, AZ 85201, USA",
                "latitude": 33.4152,
                "longitude": -111.8315,
                "property_address_components": {
                    "street_address": "42 Mesquite Ln",
                    "city": "Mesa",
                    "region": "AZ",
                    "postal_code": "85201",
                    "country": "United States",
                },
            },
        },
        "design": {
            "id": design_id,
            "external_provider_id": None,
            "name": "Design 1",
            "project_id": project_id,
            "created_at": "2026-02-21T10:00:00Z",
            "system_size_stc": 8400.0,
            "system_size_ptc": 7650.0,
            "system_size_ac": 7600.0,
            "milestone": {"milestone": "sold", "created_at": "2026-03-01T16:00:00Z"},
            "summary": {
                "design_id": design_id,
                "project_id": project_id,
                "created_at": "2026-02-21T10:00:00Z",
                "system_size_stc": 8400.0,
                "system_size_ptc": 7650.0,
                "system_size_ac": 7600.0,
                "bill_of_materials": [
                    {
                        "id": "bom-1",
                        "component_type": "modules",
                        "sku": "Q.PEAK-DUO-400",
                        "name": "Q.PEAK DUO BLK ML-G10+ 400",
                        "manufacturer_name": "Hanwha Q CELLS",
                        "quantity": 21,
                    },
                    {
                        "id": "bom-2",
                        "component_type": "microinverters",
                        "sku": "IQ8PLUS-72-2-US",
                        "name": "IQ8PLUS-72-2-US",
                        "manufacturer_name": "Enphase Energy",
                        "quantity": 21,
                    },
                    {
                        "id": "bom-3",
                        "component_type": "batteries",
                        "sku": "TESLA-PW3",
                        "name": "Powerwall 3",
                        "manufacturer_name": "Tesla",
                        "quantity": 1,
                    },
                ],
                "arrays": [],
                "energy_production": {
                    "up_to_date": True,
                    "annual": 12650.0,
                    "annual_offset": "87%",
                    "monthly": [700, 800, 1000, 1200, 1350, 1400, 1380, 1300, 1150, 950, 750, 670],
                },
            },
        },
        "pricing": {
            "system_price": 28560.0,
            "price_per_watt": 3.4,
            "system_cost": 28560.0,
            "system_cost_breakdown": [
                {"component": "starting_cost", "cost": 0.0, "items": []},
                {"component": "base_cost", "cost": 27300.0, "items": [{"name": "Price per watt", "cost": 27300.0}]},
                {
                    "component": "adders_without_discounts",
                    "cost": 1760.0,
                    "items": [{"name": "Critter guard", "cost": 560.0}, {"name": "Main panel upgrade", "cost": 1200.0}],
                },
                {"component": "adders", "cost": -500.0, "items": [{"name": "Referral discount", "cost": -500.0}]},
                {"component": "incentives", "cost": 0.0, "items": []},
            ],
            "storage_system_cost_breakdown": [],
        },
        "financing": {
            "id": "fin-1",
            "name": "GoodLeap 25y 3.99%",
            "financing_option": "loans",
            "system_price": 28560.0,
            "monthly_payment": 142.17,
            "loan_principal": 28560.0,
            "down_payment": 0.0,
            "selected_in_sales_mode": True,
            "financier": {"type": "integrated", "provider": "goodleap", "status": "pre_approved"},
        },
        "agreement": {
            "id": agreement_id,
            "project_id": project_id,
            "design_id": design_id,
            "financing_id": "fin-1",
            "agreement_template_name": "Residential Loan",
            "status": "signed",
            "signing_provider": "docusign",
            "created_at": "2026-02-28T12:00:00Z",
            "sent_at": "2026-02-28T12:05:00Z",
            "last_viewed_at": "2026-03-01T08:15:00Z",
        },
        "proposal": {
            "id": "prop-1",
            "proposal_link": f"https://v2-sandbox.aurorasolar.com/proposals/{design_id}",
            "created_at": "2026-02-22T10:00:00Z",
            "updated_at": "2026-02-23T10:00:00Z",
        },
        "web_proposal": {"url": "https://aurora.example/wp/abc123", "url_expired": False},
        "sales_rep": {
            "id": "user-7",
            "first_name": "Sam",
            "last_name": "Seller",
            "email": "sam@installer.example",
            "phone": "+1 480 555 0199",
            "title": "Energy Consultant",
        },
    }
    for path, value in overrides.items():
        node = snapshot
        *parents, last = path.split("__")
        for part in parents:
            node = node[part]
        node[last] = value
    return snapshot


@dataclass
class Company:
    id: str
    integration_id: str
    tenant_id: str
    workflow_id: str | None = None
    properties: dict[str, str] = field(default_factory=dict)  # key → property id


@dataclass
class Importer:
    """The writer under test plus the helpers a test needs around it."""

    pool: asyncpg.Pool[Any]
    writer: ProjectWriter

    async def company(self, *, strategy: str = "enrich", workflow: bool = True) -> Company:
        company_id, integration_id = uuid.uuid4(), uuid.uuid4()
        await self.pool.execute("INSERT INTO companies (id, name) VALUES ($1, 'Sunny Installs')", company_id)
        workflow_id = None
        if workflow:
            workflow_id = uuid.uuid4()
            await self.pool.execute(
                "INSERT INTO workflows (id, company_id, name, stages) VALUES ($1, $2, 'Residential', "
                "ARRAY['Site survey', 'Permit', 'Install'])",
                workflow_id,
                company_id,
            )
        tenant = f"tenant-{uuid.uuid4().hex[:8]}"
        await self.pool.execute(
            "INSERT INTO integrations (id, company_id, aurora_tenant_id, environment, token_ciphertext, token_hint, "
            "workflow_id, matching_strategy) VALUES ($1, $2, $3, 'sandbox', '\\x00', 'sk_sand', $4, $5)",
            integration_id,
            company_id,
            tenant,
            workflow_id,
            strategy,
        )
        return Company(str(company_id), str(integration_id), tenant, str(workflow_id) if workflow_id else None)

    async def set_strategy(self, company: Company, strategy: str) -> None:
        await self.pool.execute(
            "UPDATE integrations SET matching_strategy = $2 WHERE id = $1", uuid.UUID(company.integration_id), strategy
        )

    async def map_property(
        self, company: Company, key: str, type_: str, aurora_path: str, options: list[str] | None = None
    ) -> str:
        property_id = uuid.uuid4()
        await self.pool.execute(
            "INSERT INTO custom_properties (id, company_id, key, name, type, options) VALUES ($1, $2, $3, $4, $5, $6)",
            property_id,
            uuid.UUID(company.id),
            key,
            key.replace("_", " ").title(),
            type_,
            options or [],
        )
        await self.pool.execute(
            "INSERT INTO custom_mappings (id, integration_id, custom_property_id, aurora_path) VALUES ($1, $2, $3, $4)",
            uuid.uuid4(),
            uuid.UUID(company.integration_id),
            property_id,
            aurora_path,
        )
        company.properties[key] = str(property_id)
        return str(property_id)

    async def document(
        self, content: bytes, kind: str, file_name: str, content_type: str, asset: str | None = None
    ) -> DocumentRef:
        digest = await store_blob(self.pool, content, content_type)
        return DocumentRef(
            kind=kind,
            sha256=digest,
            file_name=file_name,
            content_type=content_type,
            size=len(content),
            aurora_asset_id=asset,
        )

    def event(
        self,
        company: Company,
        snapshot: dict[str, Any],
        *,
        documents: list[DocumentRef] | None = None,
        trigger: TriggerRef | None = None,
        backfill_id: str | None = None,
        event_id: str | None = None,
    ) -> ProjectFetched:
        design = snapshot.get("design") or {}
        return ProjectFetched(
            event_id=event_id or str(uuid.uuid4()),
            causation_id=str(uuid.uuid4()),
            company_id=company.id,
            integration_id=company.integration_id,
            aurora_tenant_id=company.tenant_id,
            aurora_project_id=snapshot["project"]["id"],
            aurora_design_id=design.get("id"),
            design_rule="agreement_design" if snapshot.get("agreement") else "sold_milestone",
            reason=ImportReason.BACKFILL if backfill_id else ImportReason.TRIGGER,
            trigger=trigger or TriggerRef(kind="agreement_status_changed", status="signed"),
            backfill_id=backfill_id,
            snapshot=copy.deepcopy(snapshot),
            documents=documents or [],
            received_at=RECEIVED_AT,
            fetched_at=RECEIVED_AT,
        )

    async def project(self, project_id: str) -> dict[str, Any]:
        row = await self.pool.fetchrow("SELECT * FROM projects WHERE id = $1", uuid.UUID(project_id))
        assert row is not None
        return dict(row)

    async def contact(self, contact_id: Any) -> dict[str, Any]:
        row = await self.pool.fetchrow("SELECT * FROM contacts WHERE id = $1", contact_id)
        assert row is not None
        return dict(row)

    async def custom_values(self, project_id: str) -> dict[str, Any]:
        rows = await self.pool.fetch(
            "SELECT p.key, v.value FROM custom_values v JOIN custom_properties p ON p.id = v.property_id "
            "WHERE v.project_id = $1",
            uuid.UUID(project_id),
        )
        return {r["key"]: r["value"] for r in rows}

    async def line_items(self, project_id: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT * FROM line_items WHERE project_id = $1 ORDER BY source, kind, name", uuid.UUID(project_id)
        )
        return [dict(r) for r in rows]

    async def documents(self, project_id: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT * FROM documents WHERE project_id = $1 ORDER BY source, kind, file_name", uuid.UUID(project_id)
        )
        return [dict(r) for r in rows]

    async def log(self, event_id: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch("SELECT * FROM integration_log WHERE event_id = $1 ORDER BY id", event_id)
        return [dict(r) for r in rows]

    async def outbox(self, event_id: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch("SELECT * FROM outbox WHERE headers->>'ce_id' = $1 ORDER BY id", event_id)
        return [dict(r) for r in rows]

    async def manual_project(
        self, company: Company, *, last_name: str, email: str | None, street: str, postal_code: str, **columns: Any
    ) -> str:
        """A project someone typed into the CRM by hand, with its contact."""
        contact_id, project_id = uuid.uuid4(), uuid.uuid4()
        await self.pool.execute(
            "INSERT INTO contacts (id, company_id, first_name, last_name, email, phone) VALUES ($1, $2, 'J.', $3, $4, "
            "'480-555-0000')",
            contact_id,
            uuid.UUID(company.id),
            last_name,
            email,
        )
        names = ["id", "company_id", "contact_id", "title", "source", "street_address", "postal_code", *columns]
        values = [project_id, uuid.UUID(company.id), contact_id, "Doe residence", "manual", street, postal_code]
        values += list(columns.values())
        placeholders = ", ".join(f"${i + 1}" for i in range(len(names)))
        await self.pool.execute(
            f"INSERT INTO projects ({', '.join(names)}) VALUES ({placeholders})",
            *values,
        )
        return str(project_id)


@pytest.fixture
async def importer(db_pool: asyncpg.Pool[Any]) -> Importer:
    # ttl=0: a test that changes a setting sees it on the next import.
    return Importer(pool=db_pool, writer=ProjectWriter(db_pool, IntegrationSettingsCache(ttl=0)))
