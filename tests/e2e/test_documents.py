"""Documents through the real processes: the proposal PDF, the same bytes under two kinds, and documents that
cannot be downloaded (expired pre-signed URL, storage answering 401) — the project is imported anyway, the log
says which document and why, the token is never flagged, and a re-sync attaches what was missing.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pipeline_common import topics
from tests.e2e.test_import_flow import AuroraTenant, CrmCompany, imported, new_company
from tests.fixtures.pipeline import Pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]


async def _fault(sim: httpx.AsyncClient, path: str, body: dict[str, Any]) -> None:
    r = await sim.post(path, json=body)
    assert r.status_code in (200, 201), r.text


async def _import_entry(company: CrmCompany, aurora_project_id: str) -> dict[str, Any]:
    log = await company.call(
        "GET", "/v1/integrations/aurora/log", 200, kind="import", aurora_project_id=aurora_project_id
    )
    assert log["items"], log
    entry: dict[str, Any] = log["items"][0]
    return entry


def _kinds(detail: dict[str, Any]) -> list[str]:
    return sorted(d["kind"] for d in detail["documents"])


async def _signed_and_imported(tenant: AuroraTenant, reader: Any, **spec: Any) -> dict[str, Any]:
    created = await tenant.new_project(**spec)
    await tenant.sign(created["agreement_id"])
    await imported(reader, created["project_id"])
    return created


async def test_the_proposal_pdf_is_attached_and_a_failed_or_stalled_job_never_blocks_the_project(
    pipeline: Pipeline, read_topic: Any
) -> None:
    reader = await read_topic(topics.PROJECT_IMPORTED)
    async with (
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
    ):
        company, tenant = await new_company(pipeline, admin, sim)

        ok = await _signed_and_imported(tenant, reader)
        detail = await company.project_of(ok["project_id"])
        web_proposal = (await tenant.get(f"/designs/{ok['design_ids'][0]}/web_proposal"))["web_proposal"]
        assert _kinds(detail) == ["cad_screenshot", "design_dxf", "design_layout", "proposal_pdf", "signed_agreement"]
        assert detail["proposal_url"] == web_proposal["url"], "the web-proposal link stays"
        pdf = next(d for d in detail["documents"] if d["kind"] == "proposal_pdf")
        body = await admin.get(pdf["download_url"], headers={"Authorization": f"Bearer {company.key}"})
        assert body.status_code == 200, body.text[:200]
        assert body.content.startswith(b"%PDF-")
        assert b"Solar Proposal" in body.content

        for outcome in ("fail", "stall"):
            await _fault(sim, "/_sim/faults", {"tenant_id": tenant.tenant_id, "proposal_pdf_jobs": outcome})
            created = await _signed_and_imported(tenant, reader)
            detail = await company.project_of(created["project_id"])
            assert _kinds(detail) == ["cad_screenshot", "design_dxf", "design_layout", "signed_agreement"], outcome
            assert detail["proposal_url"], "the web-proposal link is still there"
            entry = await _import_entry(company, created["project_id"])
            assert entry["action"] == "created"
            assert "imported without 1 document(s)" in entry["message"], entry
            assert "proposal_pdf" in entry["message"]
            assert [d["kind"] for d in entry["details"]["documents_not_fetched"]] == ["proposal_pdf"]

        # Once Aurora generates it again, a re-sync attaches it.
        assert (await sim.delete("/_sim/faults", params={"tenant_id": tenant.tenant_id})).status_code == 204
        await company.resync(created["project_id"])
        await imported(reader, created["project_id"])
        assert "proposal_pdf" in _kinds(await company.project_of(created["project_id"]))


async def test_the_same_bytes_under_two_kinds_are_two_documents_and_a_resync_adds_neither_again(
    pipeline: Pipeline, read_topic: Any
) -> None:
    reader = await read_topic(topics.PROJECT_IMPORTED)
    async with (
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
    ):
        company, tenant = await new_company(pipeline, admin, sim)
        created = await tenant.new_project()
        design_id = created["design_ids"][0]
        assets = (await tenant.get(f"/designs/{design_id}/assets"))["assets"]
        layout = next(a for a in assets if a["asset_type"] == "Design Layout")
        # The installer uploaded the layout PDF a second time in Aurora, as a racking spec sheet.
        r = await sim.post(
            f"/_sim/tenants/{tenant.tenant_id}/designs/{design_id}/assets",
            json={"asset_type": "Racking Spec Sheet", "same_bytes_as": layout["id"], "fire_events": False},
        )
        assert r.status_code == 201, r.text
        await tenant.sign(created["agreement_id"])
        await imported(reader, created["project_id"])
        first = await company.project_of(created["project_id"])

        await company.resync(created["project_id"])
        await imported(reader, created["project_id"])
        again = await company.project_of(created["project_id"])

    by_kind = {d["kind"]: d for d in first["documents"]}
    assert {"design_layout", "design_file"} <= set(by_kind), _kinds(first)
    assert by_kind["design_layout"]["sha256"] == by_kind["design_file"]["sha256"]
    assert by_kind["design_file"]["aurora_asset_id"] == r.json()["asset_id"]
    assert len(first["documents"]) == 6  # 4 assets, the signed agreement, the proposal PDF
    assert sorted((d["kind"], d["sha256"]) for d in again["documents"]) == sorted(
        (d["kind"], d["sha256"]) for d in first["documents"]
    ), "a re-sync of the same documents attaches none twice"


async def test_a_document_that_cannot_be_downloaded_never_fails_the_import_nor_flags_the_token(
    pipeline: Pipeline, read_topic: Any
) -> None:
    reader = await read_topic(topics.PROJECT_IMPORTED)
    async with (
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
    ):
        company, tenant = await new_company(pipeline, admin, sim)

        # 1. The URL Aurora hands out has already expired once: a fresh one from the listing works.
        created = await tenant.new_project()
        design_id = created["design_ids"][0]
        assets = {a["asset_type"]: a for a in (await tenant.get(f"/designs/{design_id}/assets"))["assets"]}
        await _fault(
            sim,
            "/_sim/file-faults",
            {
                "tenant_id": tenant.tenant_id,
                "asset_id": assets["Design Layout"]["id"],
                "fault": "expired",
                "times": 1,
            },
        )
        assert (await sim.delete("/_sim/requests")).status_code == 204
        await tenant.sign(created["agreement_id"])
        await imported(reader, created["project_id"])
        detail = await company.project_of(created["project_id"])
        assert "design_layout" in _kinds(detail)
        assert "documents_not_fetched" not in (await _import_entry(company, created["project_id"]))["details"]
        listings = (
            await sim.get("/_sim/requests", params={"path": f"/designs/{design_id}/assets", "method": "GET"})
        ).json()["requests"]
        assert len(listings) == 2, "the asset listing was read again for a fresh URL"
        refused = (await sim.get("/_sim/requests", params={"path": "/files/", "status": 403})).json()["requests"]
        assert len(refused) == 1

        # 2. One file's URL is always expired (403), another's storage answers 401.
        created = await tenant.new_project()
        design_id = created["design_ids"][0]
        assets = {a["asset_type"]: a for a in (await tenant.get(f"/designs/{design_id}/assets"))["assets"]}
        for asset_type, fault in (("Design Layout", "expired"), ("CAD Screenshot", "unauthorized")):
            await _fault(
                sim,
                "/_sim/file-faults",
                {"tenant_id": tenant.tenant_id, "asset_id": assets[asset_type]["id"], "fault": fault},
            )
        await tenant.sign(created["agreement_id"])
        message = (await imported(reader, created["project_id"]))[0]
        assert message["action"] == "created"
        detail = await company.project_of(created["project_id"])
        assert _kinds(detail) == ["design_dxf", "proposal_pdf", "signed_agreement"]
        entry = await _import_entry(company, created["project_id"])
        assert "imported without 2 document(s)" in entry["message"], entry
        assert assets["Design Layout"]["file_name"] in entry["message"]
        assert assets["CAD Screenshot"]["file_name"] in entry["message"]
        reasons = {d["aurora_asset_id"]: d["reason"] for d in entry["details"]["documents_not_fetched"]}
        assert "403" in reasons[assets["Design Layout"]["id"]]
        assert "expired" in reasons[assets["Design Layout"]["id"]]
        assert "401" in reasons[assets["CAD Screenshot"]["id"]]

        view = await company.call("GET", "/v1/integrations/aurora", 200)
        assert view["status"] == "active", "a file URL's 401 is not Aurora rejecting the token"
        problems = await company.call(
            "GET", "/v1/integrations/aurora/log", 200, aurora_project_id=created["project_id"]
        )
        assert not [e for e in problems["items"] if e["kind"] in ("fetch_error", "needs_attention", "parked")]

        # 3. Storage recovers: a re-sync attaches both.
        assert (await sim.delete("/_sim/faults", params={"tenant_id": tenant.tenant_id})).status_code == 204
        await company.resync(created["project_id"])
        await imported(reader, created["project_id"])
        assert _kinds(await company.project_of(created["project_id"])) == [
            "cad_screenshot",
            "design_dxf",
            "design_layout",
            "proposal_pdf",
            "signed_agreement",
        ]
