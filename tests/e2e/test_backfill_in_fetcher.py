"""Backfill end to end through the real processes: the admin's `POST …/backfill` → the fetcher's walk of
Aurora's projects → fetches → the importer. The projects the triggers would have imported exist in the CRM
with their data, the progress the company reads reaches completed, and its counts match the emulator's tenant.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from pipeline_common import topics
from tests.e2e.test_import_flow import new_company
from tests.fixtures.pipeline import Pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

PROJECTS = 12


async def test_backfill_imports_exactly_the_sold_projects_of_the_tenant(pipeline: Pipeline, read_topic: Any) -> None:
    reader = await read_topic(topics.PROJECT_IMPORTED)
    async with (
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
    ):
        company, tenant = await new_company(pipeline, admin, sim)
        r = await sim.post(
            f"/_sim/tenants/{tenant.tenant_id}/projects/bulk",
            json={"count": PROJECTS, "seed": 11, "fire_events": False},
        )
        assert r.status_code == 201, r.text
        projects = r.json()["projects"]
        # The default trigger is a signed agreement; Aurora shows a sale as a design milestone.
        sold = {p["project_id"] for p in projects if {"sold", "installed"} & set(p["milestones"])}
        assert 0 < len(sold) < PROJECTS, projects

        started = await company.call("POST", "/v1/integrations/aurora/backfill", 202, {})
        progress = started
        for _ in range(int(240 / 0.5)):
            progress = await company.call("GET", f"/v1/integrations/aurora/backfill/{started['id']}", 200)
            if progress["status"] != "running":
                break
            await asyncio.sleep(0.5)
        messages = await reader.take(len(sold), timeout=30, where=lambda m: m["company_id"] == company.id)

        assert progress["status"] == "completed", progress
        counts = {k: progress[k] for k in ("scanned", "found", "queued", "imported", "skipped", "failed")}
        assert counts == {
            "scanned": PROJECTS,
            "found": len(sold),
            "queued": len(sold),
            "imported": len(sold),
            "skipped": 0,
            "failed": 0,
        }
        assert sorted(m["aurora_project_id"] for m in messages) == sorted(sold)
        assert all(m["action"] == "created" and m["trigger"]["kind"] == "backfill" for m in messages), messages
        page = await company.call("GET", "/v1/projects", 200, limit=100)
        assert len(page["items"]) == len(sold), "only what the triggers would have imported"
        for project_id in sold:
            detail = await company.project_of(project_id)
            aurora = await tenant.get(f"/projects/{project_id}")
            assert detail["title"] == aurora["project"]["name"]
            assert detail["system_size_kw"] is not None
            assert detail["contact"] is not None
            assert detail["line_items"], detail
            assert detail["documents"], detail

        # Running it again imports nothing twice.
        again = await company.call("POST", "/v1/integrations/aurora/backfill", 202, {})
        for _ in range(int(240 / 0.5)):
            progress = await company.call("GET", f"/v1/integrations/aurora/backfill/{again['id']}", 200)
            if progress["status"] != "running":
                break
            await asyncio.sleep(0.5)
        assert progress["status"] == "completed", progress
        assert (progress["scanned"], progress["found"], progress["queued"]) == (PROJECTS, len(sold), 0)
        assert not await reader.take(1, timeout=3, where=lambda m: m["company_id"] == company.id)
