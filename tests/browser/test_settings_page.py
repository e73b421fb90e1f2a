"""The user guide's screens in a real browser, against the real processes: a company admin signs in,
connects Aurora Solar (first with a wrong token), configures every section, signs an agreement in the
emulator, follows the log entry to the imported project and its documents, and disconnects.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import CompanyKey, new_company, new_tenant, screenshot, sign_in
from tests.fixtures.pipeline import Pipeline

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

IMPORT_TIMEOUT = 90.0
# The importer caches a company's settings for a moment (tests/e2e/test_import_flow.py: SETTINGS_TTL).
SETTINGS_TTL = 3.0


async def _company_with_crm_data(pipeline: Pipeline) -> CompanyKey:
    company = await new_company(pipeline, "Browser Solar LLC")
    async with httpx.AsyncClient(base_url=pipeline.admin, headers=company.auth, timeout=30) as api:
        r = await api.post("/v1/workflows", json={"name": "Residential solar", "stages": ["New", "Install"]})
        assert r.status_code == 201, r.text
        r = await api.post(
            "/v1/custom-properties", json={"key": "annual_production", "name": "Annual production", "type": "number"}
        )
        assert r.status_code == 201, r.text
    return company


def _never_shows(page_html: str, secret: str) -> None:
    assert secret not in page_html, "the Aurora token was rendered into the page"


async def _wait_for_import(page: Page, pipeline: Pipeline, aurora_project_id: str) -> None:
    """Reloads the log filtered to the project until its import entry links to the CRM project."""
    # No #fragment: going to the same URL with one would only scroll, never reload.
    url = f"{pipeline.admin}/settings/integrations/aurora?log_project={aurora_project_id}"
    deadline = asyncio.get_running_loop().time() + IMPORT_TIMEOUT
    link = page.get_by_role("link", name="Open project")
    while True:
        await page.goto(url)
        if await link.count() > 0:
            return
        if asyncio.get_running_loop().time() > deadline:
            log = await page.locator("#integration-log").inner_text()
            pytest.fail(f"no imported project for {aurora_project_id} within {IMPORT_TIMEOUT}s; log:\n{log}")
        await asyncio.sleep(1.0)


async def test_the_user_guide_in_a_browser(pipeline: Pipeline, page: Page, tmp_path: Path) -> None:
    company = await _company_with_crm_data(pipeline)
    tenant = await new_tenant(pipeline)
    token = tenant["api_key"]

    # Sign in with the company key → Company Settings → Integrations → Proposal Tools → Aurora Solar.
    await sign_in(page, pipeline, company.key)
    await expect(page.get_by_role("heading", name="Integrations")).to_be_visible()
    await expect(page.get_by_role("heading", name="Proposal Tools")).to_be_visible()
    card = page.get_by_role("article", name="Aurora Solar")
    await expect(card.get_by_text("Not connected")).to_be_visible()
    await screenshot(page, "01-integrations")

    # Connect with a wrong token: Aurora's verdict is shown in the dialog, nothing is saved.
    await card.get_by_role("link", name="Connect").click()
    dialog = page.get_by_role("dialog", name="Connect Aurora Solar")
    await expect(dialog).to_be_visible()
    await dialog.get_by_label("Tenant ID").fill(tenant["tenant_id"])
    await dialog.get_by_label("Bearer Token").fill("sk_sand_this-key-does-not-exist")
    await dialog.get_by_role("button", name="Create").click()
    await expect(dialog.get_by_role("alert")).to_contain_text("Aurora rejected the bearer token")
    await screenshot(page, "02-connect-wrong-token")

    # A right token for the wrong tenant says so too.
    await dialog.get_by_label("Tenant ID").fill("00000000-0000-4000-8000-000000000000")
    await dialog.get_by_label("Bearer Token").fill(token)
    await dialog.get_by_role("button", name="Create").click()
    await expect(dialog.get_by_role("alert")).to_contain_text("does not know this tenant id")

    # The right credentials land on the configuration page: active, default trigger Signed.
    await dialog.get_by_label("Tenant ID").fill(tenant["tenant_id"])
    await dialog.get_by_label("Bearer Token").fill(token)
    await dialog.get_by_role("button", name="Create").click()
    await page.wait_for_url("**/settings/integrations/aurora")
    await expect(page.get_by_role("heading", name="Aurora Solar", exact=True)).to_be_visible()
    await expect(page.locator(".page-head .badge")).to_have_text("Active")
    trigger = page.locator("#trigger")
    await expect(trigger.get_by_role("checkbox", name="Signed")).to_be_checked()
    await expect(trigger.get_by_role("checkbox", name="Sent")).not_to_be_checked()
    for section in (
        "Trigger To Create Project",
        "Workflow",
        "Standard Properties Mapping",
        "Custom Properties Mapping",
        "Matching Strategy",
        "Integration Log",
    ):
        await expect(page.get_by_role("heading", name=section, exact=True)).to_be_visible()
    standard = page.locator("#standard-mappings")
    await standard.get_by_text(re.compile(r"Show the \d+ standard mappings")).click()
    await expect(standard.get_by_role("cell", name="project.system_size_kw")).to_be_visible()
    _never_shows(await page.content(), token)
    await screenshot(page, "03-configuration")

    # Trigger To Create Project: add a project-status trigger next to Signed, Save.
    await trigger.get_by_label("Status names").fill("Permit Submitted")
    await trigger.get_by_role("button", name="Save").click()
    await expect(trigger.get_by_role("status")).to_have_text("Trigger saved.")

    # Workflow: saved on change.
    workflow = page.locator("#workflow")
    await workflow.get_by_label("Workflow template").select_option(label="Residential solar")
    await expect(workflow.get_by_role("status")).to_have_text("Workflow saved: Residential solar.")

    # Custom Properties Mapping: an incompatible pair is refused with the reason, a compatible one is saved.
    mappings = page.locator("#custom-mappings")
    await mappings.get_by_role("link", name="Add Mapping").click()
    mapping_dialog = page.get_by_role("dialog", name="Add Mapping")
    await expect(mapping_dialog).to_be_visible()
    await mapping_dialog.get_by_label("Custom property").select_option(label="Annual production (number)")
    await mapping_dialog.get_by_label("Aurora field path").select_option("project.name")
    refusal = mapping_dialog.get_by_role("alert")
    await expect(refusal).to_contain_text("project.name is a text field and cannot fill the number property")
    await screenshot(page, "04-mapping-refused")
    await mapping_dialog.get_by_label("Aurora field path").select_option("design.summary.energy_production.annual")
    await expect(page.locator(".flash.success")).to_contain_text("Mapping saved")
    row = page.locator("#custom-mappings tbody tr")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("design.summary.energy_production.annual")

    # Matching Strategy: saved on change.
    strategy = page.locator("#matching-strategy")
    await strategy.get_by_role("radio", name=re.compile(r"^Replace")).check()
    await expect(strategy.get_by_role("status")).to_have_text("Matching strategy saved: Replace.")

    # The settings survive a reload (they were saved, not just shown).
    await page.reload()
    await expect(page.locator("#trigger").get_by_label("Status names")).to_have_value("Permit Submitted")
    await expect(page.locator("#workflow select")).to_have_value(re.compile(".+"))
    await expect(page.locator("#matching-strategy").get_by_role("radio", name=re.compile("^Replace"))).to_be_checked()
    await screenshot(page, "05-configured")

    # Sign an agreement in Aurora (the emulator) and watch the log.
    await asyncio.sleep(SETTINGS_TTL)
    async with httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim:
        r = await sim.post(f"/_sim/tenants/{tenant['tenant_id']}/projects", json={})
        assert r.status_code == 201, r.text
        aurora_project = r.json()
        r = await sim.post(
            f"/_sim/tenants/{tenant['tenant_id']}/agreements/{aurora_project['agreement_id']}/status",
            json={"status": "signed"},
        )
        assert r.status_code == 200, r.text
    await _wait_for_import(page, pipeline, aurora_project["project_id"])
    log = page.locator("#integration-log table")
    await expect(log.locator("tbody tr").first).to_contain_text("Import result")
    await expect(log).to_contain_text("Webhook received")
    await screenshot(page, "06-integration-log")

    # The imported project: fields, contact, custom value, line items, documents (downloadable), Aurora links.
    await page.get_by_role("link", name="Open project").first.click()
    await page.wait_for_url("**/projects/*")
    await expect(page.get_by_text("Imported from Aurora Solar")).to_be_visible()
    await expect(page.get_by_role("heading", name="Contact")).to_be_visible()
    await expect(page.locator("section", has=page.get_by_role("heading", name="Custom properties"))).to_contain_text(
        "Annual production"
    )
    # Where each value came from: the import, with the mapping that wrote it (custom values included).
    history = page.locator("#history")
    await expect(history.locator("tbody tr", has_text="project.title")).to_contain_text("Aurora import")
    await expect(history.locator("tbody tr", has_text="custom.annual_production")).to_be_visible()
    await expect(
        page.locator("section", has=page.get_by_role("heading", name="Line items")).locator("tbody tr").first
    ).to_be_visible()
    await expect(page.get_by_role("link", name="Open the project in Aurora")).to_be_visible()
    documents = page.locator("ul.documents a")
    await expect(documents.first).to_be_visible()
    assert await documents.count() >= 1
    await screenshot(page, "07-project")
    async with page.expect_download() as download_info:
        await documents.first.click()
    download = await download_info.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert saved.stat().st_size > 0

    # The three-dot menu → Disconnect, with a confirmation that says imported projects stay.
    await page.goto(pipeline.admin + "/settings/integrations")
    await page.get_by_label("More actions for Aurora Solar").click()
    await page.get_by_role("link", name="Disconnect").click()
    confirm = page.get_by_role("dialog", name="Disconnect Aurora Solar?")
    await expect(confirm).to_contain_text("Existing imported projects will remain")
    await screenshot(page, "08-disconnect-confirmation")
    await confirm.get_by_role("button", name="Disconnect").click()
    await expect(page.locator(".flash.success")).to_contain_text("Imported projects stay")
    await expect(page.get_by_role("article", name="Aurora Solar").locator(".badge")).to_have_text("Disconnected")
    await expect(page.get_by_role("article", name="Aurora Solar").get_by_role("link", name="Connect")).to_be_visible()
    await screenshot(page, "09-disconnected")

    # Imported projects stay.
    await page.goto(pipeline.admin + "/projects")
    await expect(page.locator("tbody tr")).to_have_count(1)
    _never_shows(await page.content(), token)


async def test_backfill_attention_and_retry(pipeline: Pipeline, page: Page, db_pool: asyncpg.Pool[Any]) -> None:
    """Beyond the guide: a live backfill progress bar, the needs-attention banner fixed by a new token, and a
    failed import retried from its row."""
    company = await new_company(pipeline, "Backfill Solar LLC")
    tenant = await new_tenant(pipeline)
    tid = tenant["tenant_id"]
    async with httpx.AsyncClient(base_url=pipeline.admin, headers=company.auth, timeout=30) as api:
        r = await api.post("/v1/integrations/aurora", json={"tenant_id": tid, "bearer_token": tenant["api_key"]})
        assert r.status_code == 201, r.text
        integration_id = uuid.UUID(r.json()["id"])
    async with httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim:
        r = await sim.post(f"/_sim/tenants/{tid}/projects/bulk", json={"count": 8, "seed": 11})
        assert r.status_code == 201, r.text
        aurora_ids = [p["project_id"] for p in r.json()["projects"]]

    await sign_in(page, pipeline, company.key)
    await page.goto(pipeline.admin + "/settings/integrations/aurora")

    # Backfill: the page starts it, then the bar follows the walk by polling until it completes.
    backfill = page.locator("#backfill")
    await backfill.get_by_role("button", name="Start backfill").click()
    progress = backfill.locator("[data-backfill-url]")
    await expect(progress).to_be_visible()
    await expect(backfill.get_by_role("progressbar", name=re.compile("Backfill started"))).to_be_visible()
    await expect(progress.locator('[data-field="status"]')).to_have_text("completed", timeout=IMPORT_TIMEOUT * 1000)
    await expect(progress.locator('[data-field="summary"]')).to_contain_text("scanned 8")
    await screenshot(page, "10-backfill")

    # Aurora stops accepting the token: a re-sync says so and the integration asks for attention.
    async with httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim:
        assert (await sim.delete(f"/_sim/keys/{tenant['api_key']}")).status_code == 204
        r = await sim.post(f"/_sim/tenants/{tid}/keys", json={"kind": "standard"})
        assert r.status_code == 201, r.text
        new_key = r.json()["api_key"]
    resync = page.locator("#resync")
    await resync.get_by_label("Aurora project ID").fill(aurora_ids[0])
    await resync.get_by_role("button", name="Re-sync").click()
    await expect(resync.get_by_role("alert")).to_contain_text("Aurora rejected")
    await page.reload()
    banner = page.get_by_role("alert").filter(has=page.get_by_role("heading", name="This integration needs attention"))
    await expect(banner).to_be_visible()
    await expect(page.locator(".page-head .badge")).to_have_text("Needs attention")
    await screenshot(page, "11-needs-attention")

    # The banner's form replaces the token without disconnecting; the integration is active again.
    await banner.get_by_label("New Bearer Token").fill(new_key)
    await banner.get_by_role("button", name="Update token").click()
    await expect(page.locator(".flash.success")).to_contain_text("Token updated")
    await expect(page.locator(".page-head .badge")).to_have_text("Active")
    await expect(page.get_by_role("heading", name="This integration needs attention")).to_have_count(0)
    _never_shows(await page.content(), new_key)

    # A failed import is listed with its reason; Retry re-syncs the project.
    await db_pool.execute(
        "INSERT INTO integration_log (company_id, integration_id, kind, aurora_project_id, action, message) "
        "VALUES ($1, $2, 'import', $3, 'failed', 'import failed: the contract value is not a number')",
        uuid.UUID(company.id),
        integration_id,
        aurora_ids[1],
    )
    await page.reload()
    failed = page.locator("#failed-imports tbody tr")
    await expect(failed).to_have_count(1)
    await expect(failed).to_contain_text("the contract value is not a number")
    await screenshot(page, "12-failed-imports")
    await failed.get_by_role("button", name=f"Retry Aurora project {aurora_ids[1]}").click()
    await expect(failed.get_by_role("status")).to_contain_text("Re-sync of Aurora project")
    # The retried import's own log entry, newer than the failure, takes the project off the list.
    deadline = asyncio.get_running_loop().time() + IMPORT_TIMEOUT
    while await page.locator("#failed-imports tbody tr").count() > 0:
        assert asyncio.get_running_loop().time() < deadline, "the retried import never replaced the failure"
        await asyncio.sleep(1.0)
        await page.goto(pipeline.admin + "/settings/integrations/aurora")
    await page.goto(f"{pipeline.admin}/settings/integrations/aurora?log_project={aurora_ids[1]}")
    await expect(page.locator("#integration-log tbody tr").first).to_contain_text("Import result")
    await expect(page.locator("#integration-log")).to_contain_text("re-sync requested")
