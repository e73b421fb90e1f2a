"""Backfill against the emulator: what the triggers would have imported is queued once, with progress."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from tests.admin.conftest import AdminApi
from tests.fixtures.aurora_sim import AuroraSim, SimTenant

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]
URL = "/v1/integrations/aurora"


async def test_backfill_is_recorded_and_its_walk_queued_for_the_fetcher(
    admin: AdminApi, aurora_sim: AuroraSim, tenant: SimTenant, db_pool: Any
) -> None:
    """The admin walks nothing itself: it records the backfill and queues one `backfill_scan` job, which the
    company's fetcher lease holder runs (tests/fetcher/test_backfill_scan.py, tests/e2e/test_backfill_in_fetcher.py)."""
    company = await admin.company()
    assert (await company.connect(tenant)).status_code == 201
    aurora_sim.clear_requests()

    r = await company.post(f"{URL}/backfill", {"limit": 10})
    assert r.status_code == 202, r.text
    first = r.json()
    assert first["status"] == "running"
    assert first["params"] == {"limit": 10}
    assert aurora_sim.requests(tenant_id=tenant.tenant_id) == [], "the admin makes no Aurora call for a backfill"
    integration_id = uuid.UUID((await company.get(URL)).json()["id"])
    job = await db_pool.fetchrow(
        "SELECT integration_id, kind, priority, payload, aurora_project_id FROM fetch_queue WHERE event_id = $1",
        f"backfill-scan:{first['id']}",
    )
    assert job is not None
    assert job["integration_id"] == integration_id
    assert (job["kind"], job["priority"]) == ("backfill_scan", 1)
    assert job["payload"] == {"backfill_id": first["id"]}

    # One walk at a time per company (unless a session pipeline's fetcher already finished this one).
    scanning = await db_pool.fetchval(
        "SELECT scan_finished_at IS NULL FROM backfill_progress WHERE id = $1", uuid.UUID(first["id"])
    )
    if scanning:
        busy = await company.post(f"{URL}/backfill", {})
        assert busy.status_code == 409
        assert busy.json()["error"]["code"] == "backfill_running"

    # As the fetcher and importer would: the walk is over and every import has an outcome.
    await db_pool.execute(
        "INSERT INTO backfill_scans (backfill_id, scan_finished_at, scanned, found, queued) "
        "VALUES ($1, now(), 9, 4, 4) ON CONFLICT (backfill_id) DO UPDATE SET scan_finished_at = now(), "
        "scanned = 9, found = 4, queued = 4, skipped = 0",
        uuid.UUID(first["id"]),
    )
    await db_pool.execute(
        "INSERT INTO backfill_outcomes (backfill_id, imported, skipped) VALUES ($1, 3, 1) "
        "ON CONFLICT (backfill_id) DO UPDATE SET imported = 3, skipped = 1, failed = 0",
        uuid.UUID(first["id"]),
    )
    done = (await company.get(f"{URL}/backfill/{first['id']}")).json()
    assert done["status"] == "completed"
    assert done["estimated_seconds_left"] == 0.0

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
                "INSERT INTO backfills (id, integration_id) VALUES ($1, $2)", backfill_id, integration_id
            )
            await conn.execute(
                "INSERT INTO backfill_scans (backfill_id, scanned, found, queued, skipped, scan_finished_at) "
                "VALUES ($1, 9, 5, 4, 1, now())",
                backfill_id,
            )
            await conn.execute("INSERT INTO backfill_outcomes (backfill_id, imported) VALUES ($1, 4)", backfill_id)
        finally:
            await conn.close()

    asyncio.run(seed())
    monkeypatch.setenv("DATABASE_URL", database_url)
    result = CliRunner().invoke(cli, ["backfill-progress", str(backfill_id), "--interval", "0.1"])
    assert result.exit_code == 0, result.output
    assert "imported 4" in result.output
    missing = CliRunner().invoke(cli, ["backfill-progress", str(uuid.uuid4())])
    assert missing.exit_code == 1
