"""Company isolation: a walk over every route with another company's key, and with no key at all."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.admin.conftest import AdminApi, Company
from tests.admin.test_crm import seed_project
from tests.fixtures.aurora_sim import AuroraSim, SimTenant

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]
URL = "/v1/integrations/aurora"
PUBLIC = {"/health/live", "/health/ready", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


async def _state(company: Company) -> dict[str, Any]:
    """Everything company A could lose or leak, as the API shows it."""
    integration = (await company.get(URL)).json()
    integration.pop("counters")
    return {
        "integration": integration,
        "mappings": (await company.get(f"{URL}/custom-mappings")).json(),
        "properties": (await company.get("/v1/custom-properties")).json(),
        "workflows": (await company.get("/v1/workflows")).json(),
        "projects": (await company.get("/v1/projects")).json(),
        "contacts": (await company.get("/v1/contacts")).json(),
        "requests": (await company.get("/v1/requests")).json(),
        "request_workflows": (await company.get("/v1/request-workflows")).json(),
    }


async def test_every_route_with_another_companys_key(
    admin: AdminApi, aurora_sim: AuroraSim, tenant: SimTenant, db_pool: Any
) -> None:
    a = await admin.company("A")
    assert (await a.connect(tenant)).status_code == 201
    seeded = await seed_project(db_pool, a, aurora_project_id=aurora_sim.create_project(tenant.tenant_id).project_id)
    wf = (await a.post("/v1/workflows", {"name": "A flow"})).json()
    assert (await a.put(f"{URL}/workflow", {"workflow_id": wf["id"]})).status_code == 200
    prop = (await a.post("/v1/custom-properties", {"key": "a_prod", "name": "P", "type": "number"})).json()
    mapping = (
        await a.post(
            f"{URL}/custom-mappings", {"custom_property_id": prop["id"], "aurora_path": "pricing.system_price"}
        )
    ).json()
    request = (await a.post("/v1/requests", {"title": "A's deal", "contact_id": str(seeded["contact"])})).json()
    integration_id = uuid.UUID((await a.get(URL)).json()["id"])
    backfill_id = uuid.uuid4()
    await db_pool.execute(
        "INSERT INTO backfills (id, integration_id) VALUES ($1, $2)",
        backfill_id,
        integration_id,
    )
    await db_pool.execute("INSERT INTO backfill_scans (backfill_id, scan_finished_at) VALUES ($1, now())", backfill_id)
    aurora_project_id = (await a.get(f"/v1/projects/{seeded['project']}")).json()["aurora_project_id"]
    a_ids = {
        "property_id": prop["id"],
        "contact_id": str(seeded["contact"]),
        "project_id": str(seeded["project"]),
        "document_id": str(seeded["document"]),
        "mapping_id": mapping["id"],
        "backfill_id": str(backfill_id),
        "request_id": request["id"],
        "stage_id": request["stage"]["id"],
    }
    before = await _state(a)

    b_tenant = aurora_sim.create_tenant("B's tenant")
    b = await admin.company("B")
    assert (await b.connect(b_tenant)).status_code == 201
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/v1/companies"): {"name": "B2"},
        ("POST", "/v1/workflows"): {"name": "B flow"},
        ("POST", "/v1/custom-properties"): {"key": "b_prop", "name": "b", "type": "text"},
        ("PATCH", "/v1/custom-properties/{property_id}"): {"name": "taken over"},
        # Naming A's contact or stage in a body is an unknown one (422), and says nothing of A's.
        ("POST", "/v1/contacts"): {"email": "b@example.com"},
        ("PATCH", "/v1/contacts/{contact_id}"): {"phone": "taken over"},
        ("POST", "/v1/projects"): {"title": "B's", "contact_id": str(seeded["contact"])},
        ("PATCH", "/v1/projects/{project_id}"): {"title": "taken over"},
        ("POST", "/v1/requests"): {"title": "B's", "stage_id": request["stage"]["id"]},
        ("PATCH", "/v1/requests/{request_id}"): {"title": "taken over"},
        ("POST", URL): {"tenant_id": tenant.tenant_id, "bearer_token": tenant.api_key},
        ("PUT", f"{URL}/token"): {"bearer_token": b_tenant.api_key},
        ("PUT", f"{URL}/triggers"): {"triggers": [{"kind": "project_status_changed", "statuses": ["x"]}]},
        ("PUT", f"{URL}/workflow"): {"workflow_id": wf["id"]},
        ("PUT", f"{URL}/matching-strategy"): {"strategy": "skip"},
        ("POST", f"{URL}/custom-mappings"): {"custom_property_id": prop["id"], "aurora_path": "pricing.system_price"},
        ("POST", f"{URL}/resync"): {"aurora_project_id": aurora_project_id},
        ("POST", f"{URL}/backfill"): {"limit": 1},
    }
    # Routes that name one of A's objects (in the path or the body) must answer 404.
    refers_to_a = {
        ("PUT", f"{URL}/workflow"),
        ("POST", f"{URL}/custom-mappings"),
        ("POST", f"{URL}/resync"),
    }
    # The OpenAPI document lists every route, so a route added later is walked too.
    paths = admin.app.openapi()["paths"]
    calls = [(m.upper(), path) for path, ops in paths.items() if path not in PUBLIC for m in sorted(ops)]
    # Disconnecting B last keeps B's integration around for the other calls.
    calls.sort(key=lambda c: c == ("DELETE", URL))
    assert len(calls) >= 30
    for method, template in calls:
        path = template.format(**a_ids)
        body = bodies.get((method, template))

        anonymous = await admin.client.request(method, path, json=body)
        assert anonymous.status_code == 401, (method, template, anonymous.text)
        assert anonymous.json()["error"]["code"] == "unauthorized"

        if template == "/v1/companies":
            r = await b.post(path, body)
            assert r.status_code == 401, "a company key is not the operator token"
            continue
        r = await b.request(method, path, json=body)
        if "{" in template or (method, template) in refers_to_a:
            assert r.status_code == 404, (method, template, r.status_code, r.text)
        for value in (*a_ids.values(), wf["id"], str(integration_id), tenant.tenant_id):
            assert value not in r.text, (method, template, value)

    assert await _state(a) == before
    assert (await a.get(f"/v1/integrations/aurora/backfill/{backfill_id}")).status_code == 200
    assert (await a.get(f"/v1/projects/{seeded['project']}/documents/{seeded['document']}/content")).status_code == 200
