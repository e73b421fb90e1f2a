"""Requests and projects made in the CRM, in a real browser: the New request form, the request page with its
link state, why "Create project in Aurora Solar" is not available yet, a stage move and its history, and the
New project form — all through the page, checked against what the admin API then answers.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import new_company, screenshot, sign_in
from tests.fixtures.pipeline import Pipeline

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


async def test_a_request_and_a_project_made_on_the_page(pipeline: Pipeline, page: Page) -> None:
    company = await new_company(pipeline, "Requests Solar LLC")
    await sign_in(page, pipeline, company.key)

    await page.get_by_role("link", name="Requests").click()
    await expect(page.get_by_role("heading", name="Requests", exact=True)).to_be_visible()
    await expect(page.get_by_text("No requests yet.")).to_be_visible()
    form = page.locator("#new-request")
    await form.get_by_label("Title").fill("Doe - roof 8 kW")
    await form.get_by_label("Street").fill("1 Solar Way")
    await form.get_by_label("City").fill("Austin")
    await form.get_by_label("Postal code").fill("78701")
    await form.get_by_label("Last name").fill("Doe")
    await form.get_by_label("Email").fill("jane.doe@example.com")
    await form.get_by_role("button", name="Create request").click()

    # The request's page: not linked, and the Aurora create is refused before the click (no value yet).
    await expect(page.get_by_role("heading", name="Doe - roof 8 kW")).to_be_visible()
    await expect(page.locator("#link-state")).to_have_text("Not linked to Aurora Solar")
    create = page.get_by_role("button", name="Create project in Aurora Solar")
    await expect(create).to_be_disabled()
    await expect(page.get_by_text("Not available: the request needs a value above 0.")).to_be_visible()
    await expect(page.get_by_role("button", name="Link an existing Aurora project")).to_be_visible()
    await screenshot(page, "requests-01-request")

    await page.get_by_label("Move to stage").select_option(label="Proposal")
    await page.get_by_role("button", name="Move").click()
    await expect(page.get_by_text("Stage changed.")).to_be_visible()
    history = page.locator("#stage-history tbody tr")
    await expect(history).to_have_count(2)
    await expect(history.nth(1)).to_contain_text("New Request")
    await expect(history.nth(1)).to_contain_text("Proposal")

    # A bad form gets the API's words and creates nothing: a street without a postal code.
    await page.get_by_role("link", name="Projects").click()
    new = page.locator("#new-project")
    await new.get_by_label("Title").fill("Walk-in customer")
    await new.get_by_label("Street").fill("9 Elm St")
    await new.get_by_role("button", name="Create project").click()
    await expect(page.get_by_role("alert")).to_contain_text("postal")

    new = page.locator("#new-project")
    await new.get_by_label("Title").fill("Walk-in customer")
    await new.get_by_label("Value").fill("18000")
    await new.get_by_role("button", name="Create project").click()
    await expect(page.get_by_role("heading", name="Walk-in customer")).to_be_visible()
    await expect(page.get_by_text("Created in the CRM")).to_be_visible()

    async with httpx.AsyncClient(base_url=pipeline.admin, headers=company.auth, timeout=30) as api:
        requests = (await api.get("/v1/requests")).json()["items"]
        projects = (await api.get("/v1/projects")).json()["items"]
    assert [(r["title"], r["stage"]["name"], r["postal_code"]) for r in requests] == [
        ("Doe - roof 8 kW", "Proposal", "78701")
    ]
    assert [p["title"] for p in projects] == ["Walk-in customer"]
