"""Companies and the CRM resources: workflows, custom properties, projects, contacts, documents."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest

from admin.security import hash_api_key
from tests.admin.conftest import AdminApi, Company

pytestmark = [pytest.mark.postgres]


async def test_operator_creates_companies_and_keys_are_stored_hashed(admin: AdminApi, db_pool: Any) -> None:
    r = await admin.client.post("/v1/companies", json={"name": "X"}, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    assert (await admin.client.post("/v1/companies", json={"name": "X"})).status_code == 401
    r = await admin.client.post(
        "/v1/companies", json={"name": ""}, headers={"Authorization": "Bearer operator-secret-for-tests"}
    )
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "name"

    company = await admin.company("Hashed Co")
    assert company.key.startswith("crm_")
    me = await company.get("/v1/company")
    assert me.json() == {"id": str(company.id), "name": "Hashed Co"}
    stored = await db_pool.fetchrow(
        "SELECT key_hash, key_prefix FROM company_api_keys WHERE company_id = $1", company.id
    )
    assert bytes(stored["key_hash"]) == hash_api_key(company.key)
    assert company.key not in stored["key_prefix"]
    # The operator token is not a company key.
    r = await admin.client.get("/v1/company", headers={"Authorization": "Bearer operator-secret-for-tests"})
    assert r.status_code == 401


async def test_workflows(admin: AdminApi) -> None:
    company = await admin.company()
    r = await company.post("/v1/workflows", {"name": "Residential", "stages": ["New", "Install"]})
    assert r.status_code == 201, r.text
    assert r.json()["stages"] == ["New", "Install"]
    assert (await company.post("/v1/workflows", {"name": "Residential"})).json()["error"]["code"] == "duplicate_name"
    r = await company.post("/v1/workflows", {"name": "Empty", "stages": []})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "stages"
    names = [w["name"] for w in (await company.get("/v1/workflows")).json()]
    assert names == ["Residential"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "Bad Key", "name": "x", "type": "text"}, "key"),
        ({"key": "ok", "name": "x", "type": "currency"}, "type"),
        ({"key": "ok", "name": "", "type": "text"}, "name"),
        ({"key": "ok", "name": "x", "type": "single_select"}, "body"),
        ({"key": "ok", "name": "x", "type": "multi_select", "options": ["a", "A"]}, "body"),
        ({"key": "ok", "name": "x", "type": "number", "options": ["a"]}, "body"),
    ],
)
async def test_custom_property_validation(admin: AdminApi, body: dict[str, Any], field: str) -> None:
    company = await admin.company()
    r = await company.post("/v1/custom-properties", body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
    assert r.json()["error"]["field"] == field


async def test_custom_properties_lifecycle(admin: AdminApi) -> None:
    company = await admin.company()
    for prop_type in ("text", "number", "boolean", "date", "url", "email", "phone"):
        r = await company.post("/v1/custom-properties", {"key": f"p_{prop_type}", "name": prop_type, "type": prop_type})
        assert r.status_code == 201, r.text
    r = await company.post(
        "/v1/custom-properties",
        {"key": "fin", "name": "Financing", "type": "single_select", "options": ["cash", "loan"]},
    )
    assert r.status_code == 201
    prop = r.json()
    dup = await company.post("/v1/custom-properties", {"key": "fin", "name": "again", "type": "text"})
    assert dup.status_code == 409
    assert dup.json()["error"]["code"] == "duplicate_key"

    r = await company.patch(f"/v1/custom-properties/{prop['id']}", {"name": "Financing type", "options": ["cash"]})
    assert r.status_code == 200
    assert r.json()["options"] == ["cash"]
    assert r.json()["name"] == "Financing type"
    r = await company.patch(f"/v1/custom-properties/{prop['id']}", {"options": []})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "options"
    r = await company.patch(f"/v1/custom-properties/{prop['id']}", {"type": "text"})
    assert r.status_code == 422
    assert len((await company.get("/v1/custom-properties")).json()) == 8
    assert (await company.delete(f"/v1/custom-properties/{prop['id']}")).status_code == 204
    assert (await company.get(f"/v1/custom-properties/{prop['id']}")).status_code == 404
    assert (await company.delete(f"/v1/custom-properties/{prop['id']}")).status_code == 404


async def seed_project(db: Any, company: Company, *, aurora_project_id: str = "ap-1") -> dict[str, uuid.UUID]:
    """A project as the importer would write it: contact, custom value, line item, document."""
    contact_id, project_id, prop_id, doc_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    content = b"%PDF-1.4 signed agreement " + uuid.uuid4().bytes
    sha = hashlib.sha256(content).hexdigest()
    async with db.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO contacts (id, company_id, first_name, last_name, email) VALUES ($1, $2, 'Jane', 'Doe', $3)",
            contact_id,
            company.id,
            f"jane-{contact_id.hex[:6]}@example.com",
        )
        await conn.execute(
            "INSERT INTO projects (id, company_id, contact_id, title, source, aurora_project_id, system_size_kw) "
            "VALUES ($1, $2, $3, 'Jane Doe - 42 Mesquite Ln', 'aurora', $4, 8.4)",
            project_id,
            company.id,
            contact_id,
            aurora_project_id,
        )
        await conn.execute(
            "INSERT INTO custom_properties (id, company_id, key, name, type) "
            "VALUES ($1, $2, $3, 'Production', 'number')",
            prop_id,
            company.id,
            f"prod_{prop_id.hex[:8]}",
        )
        await conn.execute(
            "INSERT INTO custom_values (project_id, property_id, value) VALUES ($1, $2, $3)", project_id, prop_id, 12650
        )
        await conn.execute(
            "INSERT INTO line_items (id, project_id, source, kind, component_type, manufacturer, name, quantity) "
            "VALUES ($1, $2, 'aurora', 'component', 'modules', 'REC', 'REC Alpha 420', 20)",
            uuid.uuid4(),
            project_id,
        )
        await conn.execute(
            "INSERT INTO document_blobs (sha256, content, size, content_type) VALUES ($1, $2, $3, 'application/pdf') "
            "ON CONFLICT DO NOTHING",
            sha,
            content,
            len(content),
        )
        await conn.execute(
            "INSERT INTO documents (id, project_id, kind, file_name, content_type, sha256, size, source) "
            "VALUES ($1, $2, 'signed_agreement', 'agreement.pdf', 'application/pdf', $3, $4, 'aurora')",
            doc_id,
            project_id,
            sha,
            len(content),
        )
    return {"contact": contact_id, "project": project_id, "property": prop_id, "document": doc_id}


async def test_projects_contacts_and_documents(admin: AdminApi, db_pool: Any) -> None:
    company = await admin.company()
    ids = await seed_project(db_pool, company, aurora_project_id="aurora-42")
    for n in range(3):
        await seed_project(db_pool, company, aurora_project_id=f"other-{n}")

    page = (await company.get("/v1/projects", params={"limit": 2})).json()
    assert len(page["items"]) == 2
    assert page["next_offset"] == 2
    rest = (await company.get("/v1/projects", params={"limit": 2, "offset": 2})).json()
    assert len(rest["items"]) == 2
    assert rest["next_offset"] is None
    filtered = (await company.get("/v1/projects", params={"aurora_project_id": "aurora-42"})).json()["items"]
    assert [p["id"] for p in filtered] == [str(ids["project"])]
    assert (await company.get("/v1/projects", params={"limit": 0})).json()["error"]["field"] == "limit"

    detail = (await company.get(f"/v1/projects/{ids['project']}")).json()
    assert detail["contact"]["first_name"] == "Jane"
    assert detail["custom_values"][0]["value"] == 12650
    assert detail["line_items"][0]["name"] == "REC Alpha 420"
    doc = detail["documents"][0]
    assert doc["kind"] == "signed_agreement"
    download = await company.get(doc["download_url"])
    assert download.status_code == 200
    assert download.content.startswith(b"%PDF-1.4")
    assert download.headers["content-type"] == "application/pdf"
    assert 'filename="agreement.pdf"' in download.headers["content-disposition"]

    contacts = (await company.get("/v1/contacts")).json()
    assert len(contacts["items"]) == 4
    assert (await company.get(f"/v1/contacts/{ids['contact']}")).json()["last_name"] == "Doe"
    assert (await company.get(f"/v1/projects/{uuid.uuid4()}")).status_code == 404
    r = await company.get("/v1/projects/not-a-uuid")
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "project_id"
