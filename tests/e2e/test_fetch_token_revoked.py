"""Aurora revokes a company's token mid-way: the integration needs attention, imports are parked (not lost),
and once the company replaces the token (admin API) the parked imports complete — through the real processes.

The company is made and connected through the admin API; every import starts from an agreement signed in the
emulator, whose webhook reaches the gateway through the subscription the admin registered.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest

from pipeline_common import topics
from tests.e2e.test_import_flow import CrmCompany, new_company
from tests.fixtures.pipeline import Pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]


async def eventually(check: Any, what: str, seconds: float = 30.0) -> None:
    for _ in range(int(seconds / 0.2)):
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {seconds:.0f}s: {what}")


async def log_kinds(company: CrmCompany) -> Counter[str]:
    page = await company.call("GET", "/v1/integrations/aurora/log", 200, limit=200)
    return Counter(entry["kind"] for entry in page["items"])


async def test_revoked_token_parks_imports_and_replacing_it_completes_them(pipeline: Pipeline, read_topic: Any) -> None:
    reader = await read_topic(topics.PROJECT_IMPORTED)
    async with (
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
    ):
        company, tenant = await new_company(pipeline, admin, sim)
        projects = [await tenant.new_project(fire_events=False) for _ in range(4)]

        # The first import goes through with the valid token.
        await tenant.sign(projects[0]["agreement_id"])
        first = await reader.take(1, timeout=60, where=lambda m: m["aurora_project_id"] == projects[0]["project_id"])
        assert first, "the import before the revocation completes"

        # The company's token is revoked in Aurora; the next imports are parked, the integration flagged.
        assert (await sim.delete(f"/_sim/keys/{tenant.api_key}")).status_code == 204
        for p in projects[1:]:
            await tenant.sign(p["agreement_id"])

        async def all_parked() -> bool:
            return (await log_kinds(company))["parked"] == 3

        await eventually(all_parked, "the three imports after the revocation are parked", 60)
        view = await company.call("GET", "/v1/integrations/aurora", 200)
        assert view["status"] == "needs_attention", view
        assert (await log_kinds(company))["needs_attention"] == 1
        assert not await reader.take(1, timeout=1.0, where=lambda m: m["company_id"] == company.id)

        # The company issues a new key and gives it to the CRM: the parked imports resume by themselves.
        new_key = (await sim.post(f"/_sim/tenants/{tenant.tenant_id}/keys", json={"kind": "standard"})).json()[
            "api_key"
        ]
        replaced = await company.call("PUT", "/v1/integrations/aurora/token", 200, {"bearer_token": new_key})
        assert replaced["status"] == "active"
        log = await company.call("GET", "/v1/integrations/aurora/log", 200, kind="token_replaced")
        assert "3 parked import(s) resumed" in str(log), log

        parked = {p["project_id"] for p in projects[1:]}
        completed = await reader.take(3, timeout=60.0, where=lambda m: m["aurora_project_id"] in parked)
        assert sorted(m["aurora_project_id"] for m in completed) == sorted(parked), "each parked import completed"
        # ... once: nothing more arrives for the company, and each project exists once in the CRM.
        assert not await reader.take(1, timeout=3.0, where=lambda m: m["company_id"] == company.id)
        for p in projects:
            page = await company.call("GET", "/v1/projects", 200, aurora_project_id=p["project_id"])
            assert len(page["items"]) == 1, page
