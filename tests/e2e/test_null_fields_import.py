"""An Aurora that answers `null` for every field a record may leave empty (lists and objects included) still
imports the project, end to end through the real processes (issue 11, defect 4): the emulator's `null_fields`
fault, a company set up through the admin API, the signed agreement's webhook through the gateway."""

from __future__ import annotations

from typing import Any

import httpx

from pipeline_common import topics
from tests.e2e.test_import_flow import imported, new_company
from tests.e2e.test_trigger_precedence import clear_faults, set_faults
from tests.fixtures.pipeline import Pipeline


async def test_a_project_whose_nullable_fields_are_all_null_imports(pipeline: Pipeline, read_topic: Any) -> None:
    reader = await read_topic(topics.PROJECT_IMPORTED)
    async with (
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
    ):
        company, tenant = await new_company(pipeline, admin, sim)
        created = await tenant.new_project(with_battery=True)
        await set_faults(tenant, null_fields=True)
        try:
            # What the fetcher will read: the lists the issue names are null, not merely empty.
            project = (await tenant.get(f"/projects/{created['project_id']}"))["project"]
            summary = (await tenant.get(f"/designs/{created['design_ids'][0]}/summary"))["design"]
            pricing = (await tenant.get(f"/designs/{created['design_ids'][0]}/pricing"))["pricing"]
            assert project["tags"] is None
            assert project["preferred_solar_modules"] is None
            assert summary["bill_of_materials"] is None
            assert summary["energy_production"]["monthly"] is None
            assert pricing["system_cost_breakdown"] is None

            await tenant.sign(created["agreement_id"])
            [message] = await imported(reader, created["project_id"])
        finally:
            await clear_faults(tenant)

        assert message["action"] == "created"
        assert message["trigger"] == {"kind": "agreement_status_changed", "status": "signed"}
        detail = await company.project_of(created["project_id"])
        assert detail["aurora_design_id"] == created["design_ids"][0]
        log = await company.call(
            "GET", "/v1/integrations/aurora/log", 200, aurora_project_id=created["project_id"], kind="import"
        )
        assert [entry["action"] for entry in log["items"]] == ["created"], log["items"]
