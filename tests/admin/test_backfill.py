"""Backfill against the emulator: what the triggers would have imported is queued once, with progress."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from pipeline_common.events import ImportReason, derive_event_id
from tests.admin.conftest import AdminApi, Company
from tests.admin.kafka import import_requests
from tests.fixtures.aurora_sim import AuroraSim, SimTenant

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]
URL = "/v1/integrations/aurora"


async def _walked(company: Company, backfill_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body: dict[str, Any] = (await company.get(f"{URL}/backfill/{backfill_id}")).json()
        if body["scan_finished_at"] is not None or body["status"] == "failed":
            return body
        await asyncio.sleep(0.2)
    raise AssertionError("the backfill did not finish walking Aurora within 60 s")


async def test_backfill_queues_what_triggers_would_have_imported_once(
    admin: AdminApi, aurora_sim: AuroraSim, tenant: SimTenant, db_pool: Any, kafka_bootstrap: str
) -> None:
    sold = [
        aurora_sim.create_project(
            tenant.tenant_id, designs=2, sold_design=1, agreement_status="signed", fire_events=False
        )
        for _ in range(3)
    ]
    permit = aurora_sim.create_project(
        tenant.tenant_id, project={"status": "Permit Submitted"}, agreement_status="sent", fire_events=False
    )
    for _ in range(2):
        aurora_sim.create_project(tenant.tenant_id, agreement_status="viewed", fire_events=False)

    company = await admin.company()
    assert (await company.connect(tenant)).status_code == 201
    triggers = {
        "triggers": [
            {"kind": "agreement_status_changed", "statuses": ["signed"]},
            {"kind": "project_status_changed", "statuses": ["permit submitted"]},
        ]
    }
    assert (await company.put(f"{URL}/triggers", triggers)).status_code == 200

    r = await company.post(f"{URL}/backfill", {})
    assert r.status_code == 202, r.text
    first = await _walked(company, r.json()["id"])
    assert first["status"] == "running", first
    assert first["scanned"] == 6
    assert first["found"] == 4
    assert first["queued"] == 4

    integration_id = (await company.get(URL)).json()["id"]
    expected = {
        p.project_id: derive_event_id(f"backfill:{integration_id}:{p.project_id}", "admin") for p in [*sold, permit]
    }
    events = await import_requests(kafka_bootstrap, match=set(expected.values()))
    assert set(events) == set(expected.values())
    for project in sold:
        event = events[expected[project.project_id]]
        assert event.reason is ImportReason.BACKFILL
        assert event.backfill_id == first["id"]
        assert event.design_id == project.design_ids[1]
    assert events[expected[permit.project_id]].trigger.status == "project status Permit Submitted"

    # As the importer would: one project now exists, the others report their outcome.
    await db_pool.execute(
        "INSERT INTO projects (id, company_id, title, source, aurora_project_id) VALUES ($1, $2, 't', 'aurora', $3)",
        uuid.uuid4(),
        company.id,
        sold[0].project_id,
    )
    await db_pool.execute("UPDATE backfills SET imported = 4 WHERE id = $1", uuid.UUID(first["id"]))
    done = (await company.get(f"{URL}/backfill/{first['id']}")).json()
    assert done["status"] == "completed"
    assert done["estimated_seconds_left"] == 0.0

    again = await company.post(f"{URL}/backfill", {"limit": 10})
    second = await _walked(company, again.json()["id"])
    assert second["found"] == 4
    assert second["skipped"] == 1, "the project already in the CRM is not queued again"
    assert second["queued"] == 3

    other = await admin.company()
    assert (await other.get(f"{URL}/backfill/{first['id']}")).status_code == 404


async def test_backfill_validation(admin: AdminApi, tenant: SimTenant) -> None:
    company = await admin.company()
    assert (await company.post(f"{URL}/backfill", {})).status_code == 404
    assert (await company.connect(tenant)).status_code == 201
    r = await company.post(f"{URL}/backfill", {"limit": 0})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "limit"
    r = await company.post(f"{URL}/backfill", {"created_after": "yesterday"})
    assert r.json()["error"]["field"] == "created_after"


def test_every_route_is_documented_with_examples(admin: AdminApi) -> None:
    spec = admin.app.openapi()
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            assert op.get("summary"), (method, path)
            text = str(op) + str(spec["components"]["schemas"])
            assert "example" in str(op) or any(
                "examples" in str(spec["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})) for ref in _refs(op)
            ), (method, path, text[:0])


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_cli_shows_backfill_progress(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncpg
    from typer.testing import CliRunner

    from admin.cli import app as cli

    backfill_id = uuid.uuid4()

    async def seed() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            integration_id = await conn.fetchval("SELECT id FROM integrations LIMIT 1")
            await conn.execute(
                "INSERT INTO backfills (id, integration_id, status, scanned, found, queued, imported, skipped, "
                "scan_finished_at, finished_at) VALUES ($1, $2, 'completed', 9, 5, 4, 4, 1, now(), now())",
                backfill_id,
                integration_id,
            )
        finally:
            await conn.close()

    asyncio.run(seed())
    monkeypatch.setenv("DATABASE_URL", database_url)
    result = CliRunner().invoke(cli, ["backfill-progress", str(backfill_id), "--interval", "0.1"])
    assert result.exit_code == 0, result.output
    assert "imported 4" in result.output
    missing = CliRunner().invoke(cli, ["backfill-progress", str(uuid.uuid4())])
    assert missing.exit_code == 1
