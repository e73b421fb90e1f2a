"""Status precedence and redeliveries, end to end: companies set up through the admin API, webhooks fired by
the emulator (Aurora's duplicates and out-of-order deliveries included) through the gateway, and the outcome
read where a user sees it: `project.imported`, the CRM project and the integration log.

Aurora's webhook carries no delivery id; a retry repeats the same URL. So a redelivery is the same status as
the one last heard for that project or agreement, while a status that comes back after another one is a new
event (issue 11, defect 3).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from pipeline_common import topics
from tests.e2e.test_import_flow import SETTINGS_TTL, AuroraTenant, CrmCompany, imported, new_company
from tests.e2e.test_triggers_and_designs import TRIGGERS, eventually
from tests.fixtures.pipeline import Pipeline

# Once every webhook of a project is logged, its import requests are on their way; this bounds the wait for
# an import that should not happen (it proves absence, it times nothing).
NO_MORE_IMPORTS_SECONDS = 5.0


async def webhook_entries(company: CrmCompany, aurora_project_id: str, count: int) -> list[dict[str, Any]]:
    """The trigger filter's log entries for the project, oldest first, once `count` of them are there."""

    async def entries() -> list[dict[str, Any]] | None:
        page = await company.call(
            "GET", "/v1/integrations/aurora/log", 200, kind="webhook", aurora_project_id=aurora_project_id
        )
        found: list[dict[str, Any]] = page["items"][::-1]
        return found if len(found) >= count else None

    found = await eventually(entries, seconds=60)
    assert found is not None, f"fewer than {count} webhooks logged for {aurora_project_id}"
    assert len(found) == count, [e["message"] for e in found]
    return found


async def import_entries(company: CrmCompany, aurora_project_id: str) -> list[dict[str, Any]]:
    page = await company.call(
        "GET", "/v1/integrations/aurora/log", 200, kind="import", aurora_project_id=aurora_project_id
    )
    items: list[dict[str, Any]] = page["items"]
    return items


async def redeliver(tenant: AuroraTenant, event: str, values: dict[str, str | None]) -> None:
    """Aurora delivering the same webhook again: the same event with the same placeholder values, so the
    same URL reaches the gateway."""
    r = await tenant.sim.post(f"/_sim/tenants/{tenant.tenant_id}/events", json={"event": event, "values": values})
    assert r.status_code in (200, 201, 202), r.text


async def set_faults(tenant: AuroraTenant, **faults: Any) -> None:
    r = await tenant.sim.post("/_sim/faults", json={"tenant_id": tenant.tenant_id, **faults})
    assert r.status_code in (200, 201), r.text


async def clear_faults(tenant: AuroraTenant) -> None:
    r = await tenant.sim.delete("/_sim/faults", params={"tenant_id": tenant.tenant_id})
    assert r.status_code in (200, 204), r.text


async def agreement_values(tenant: AuroraTenant, agreement_id: str, status: str) -> dict[str, str | None]:
    agreement = (await tenant.get(f"/agreements/{agreement_id}"))["agreement"]
    return {
        "PROJECT_ID": agreement["project_id"],
        "AGREEMENT_ID": agreement_id,
        "STATUS": status,
        "DESIGN_ID": agreement["design_id"],
        "FINANCING_ID": agreement["financing_id"],
    }


async def test_viewed_and_signed_triggers_with_webhooks_out_of_order(pipeline: Pipeline, read_topic: Any) -> None:
    reader = await read_topic(topics.PROJECT_IMPORTED)
    async with (
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
    ):
        company, tenant = await new_company(pipeline, admin, sim)
        await company.call(
            "PUT",
            TRIGGERS,
            200,
            {"triggers": [{"kind": "agreement_status_changed", "statuses": ["viewed", "signed"]}]},
        )
        await asyncio.sleep(SETTINGS_TTL)

        # 1. Signed, and Aurora misbehaves: the `signed` delivery twice, then a stale `viewed` after it.
        late = await tenant.new_project()
        await webhook_entries(company, late["project_id"], 1)  # `sent`: no trigger
        await set_faults(tenant, duplicate_webhooks=1.0, out_of_order_webhooks=True)
        try:
            await tenant.sign(late["agreement_id"])
            entries = await webhook_entries(company, late["project_id"], 4)
        finally:
            await clear_faults(tenant)
        [message] = await imported(reader, late["project_id"])
        assert message["trigger"] == {"kind": "agreement_status_changed", "status": "signed"}
        assert message["action"] == "created"
        decisions = [(e["details"]["status"], e["action"], e["message"]) for e in entries]
        assert [d[:2] for d in decisions].count(("signed", "import_requested")) == 1, decisions
        assert any(s == "signed" and a == "skipped" and "duplicate" in m for s, a, m in decisions), decisions
        assert any(
            s == "viewed" and a == "skipped" and "late status 'viewed' after 'signed'" in m for s, a, m in decisions
        ), decisions
        assert await reader.take(1, timeout=NO_MORE_IMPORTS_SECONDS, where=_of(late["project_id"])) == []
        assert len(await import_entries(company, late["project_id"])) == 1

        # 2. In order, both triggers import (the second updates the project); then Aurora redelivers both, the
        #    older one last: neither imports again.
        in_order = await tenant.new_project()
        await webhook_entries(company, in_order["project_id"], 1)
        r = await sim.post(
            f"/_sim/tenants/{tenant.tenant_id}/agreements/{in_order['agreement_id']}/status", json={"status": "viewed"}
        )
        assert r.status_code == 200, r.text
        [first] = await imported(reader, in_order["project_id"])
        assert first["trigger"]["status"] == "viewed"
        await tenant.sign(in_order["agreement_id"])
        [second] = await imported(reader, in_order["project_id"])
        assert second["trigger"]["status"] == "signed"
        assert second["action"] != "created"
        assert second["crm_project_id"] == first["crm_project_id"]
        await redeliver(
            tenant, "agreement_status_changed", await agreement_values(tenant, in_order["agreement_id"], "signed")
        )
        await webhook_entries(company, in_order["project_id"], 4)
        await redeliver(
            tenant, "agreement_status_changed", await agreement_values(tenant, in_order["agreement_id"], "viewed")
        )
        entries = await webhook_entries(company, in_order["project_id"], 5)
        decisions = [(e["details"]["status"], e["action"], e["message"]) for e in entries]
        assert [(s, a) for s, a, _ in decisions] == [
            ("sent", "skipped"),
            ("viewed", "import_requested"),
            ("signed", "import_requested"),
            ("signed", "skipped"),
            ("viewed", "skipped"),
        ], decisions
        assert "duplicate: agreement already reported 'signed'" in decisions[3][2]
        # Already heard (and imported) once: a duplicate, whatever came after it.
        assert "duplicate: agreement already reported 'viewed'" in decisions[4][2]
        assert await reader.take(1, timeout=NO_MORE_IMPORTS_SECONDS, where=_of(in_order["project_id"])) == []
        assert len(await import_entries(company, in_order["project_id"])) == 2
        projects = await company.call("GET", "/v1/projects", 200, aurora_project_id=in_order["project_id"])
        assert len(projects["items"]) == 1


async def test_a_project_status_that_comes_back_imports_again(pipeline: Pipeline, read_topic: Any) -> None:
    reader = await read_topic(topics.PROJECT_IMPORTED)
    async with (
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
    ):
        company, tenant = await new_company(pipeline, admin, sim)
        await company.call(
            "PUT", TRIGGERS, 200, {"triggers": [{"kind": "project_status_changed", "statuses": ["Installed"]}]}
        )
        await asyncio.sleep(SETTINGS_TTL)
        project = await tenant.new_project(designs=1, sold_design=0, agreement_status=None)
        pid = project["project_id"]

        async def move_to(status: str) -> None:
            r = await sim.post(f"/_sim/tenants/{tenant.tenant_id}/projects/{pid}/status", json={"status": status})
            assert r.status_code == 200, r.text

        await move_to("Installed")
        [first] = await imported(reader, pid)
        assert first["action"] == "created"
        await move_to("Permit")
        await webhook_entries(company, pid, 2)
        # Back to Installed, and Aurora delivers that webhook twice: one import, one duplicate.
        await set_faults(tenant, duplicate_webhooks=1.0)
        try:
            await move_to("Installed")
            entries = await webhook_entries(company, pid, 4)
        finally:
            await clear_faults(tenant)
        [second] = await imported(reader, pid)
        assert second["trigger"] == {"kind": "project_status_changed", "status": "installed"}
        assert second["crm_project_id"] == first["crm_project_id"]
        assert second["action"] != "created"
        decisions = [(e["details"]["status"], e["action"], e["message"]) for e in entries]
        assert [(s, a) for s, a, _ in decisions[:2]] == [("Installed", "import_requested"), ("Permit", "skipped")]
        assert sorted(a for _, a, _ in decisions[2:]) == ["import_requested", "skipped"], decisions
        assert "(the status was 'permit')" in next(m for _, a, m in decisions[2:] if a == "import_requested")
        assert "duplicate" in next(m for _, a, m in decisions[2:] if a == "skipped")
        # Aurora retries the same delivery much later: still a duplicate, nothing imported.
        await redeliver(tenant, "project_status_changed", {"PROJECT_ID": pid, "STATUS": "Installed"})
        [*_, last] = await webhook_entries(company, pid, 5)
        assert last["action"] == "skipped"
        assert "duplicate: project already reported 'installed'" in last["message"]
        assert await reader.take(1, timeout=NO_MORE_IMPORTS_SECONDS, where=_of(pid)) == []
        assert len(await import_entries(company, pid)) == 2
        assert len((await company.call("GET", "/v1/projects", 200, aurora_project_id=pid))["items"]) == 1


def _of(aurora_project_id: str) -> Any:
    return lambda m: m["aurora_project_id"] == aurora_project_id
