"""Headless Chromium from Debian's packages, driven by Playwright's Python package, against the real processes.

Playwright never downloads a browser here: it launches /usr/bin/chromium (installed by
`deploy/local/browser.sh ensure`, which `make test` runs) with a fresh profile per test.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, async_playwright

from tests.fixtures.pipeline import OPERATOR_TOKEN, Pipeline

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser_context() -> AsyncIterator[BrowserContext]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: run `deploy/local/browser.sh ensure` (Debian's chromium)", pytrace=False)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        async with async_playwright() as pw:
            context = await pw.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1366, "height": 900},
                accept_downloads=True,
            )
            context.set_default_timeout(15_000)
            try:
                yield context
            finally:
                await context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
async def page(browser_context: BrowserContext) -> Page:
    return browser_context.pages[0] if browser_context.pages else await browser_context.new_page()


async def screenshot(page: Page, name: str) -> None:
    """Saves the screen and checks on the way that every control on it has an accessible label."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    unlabelled = await page.evaluate(_UNLABELLED_CONTROLS)
    assert not unlabelled, f"controls without an accessible label on {name}: {unlabelled}"


_UNLABELLED_CONTROLS = """() => Array.from(document.querySelectorAll(
    'input:not([type=hidden]), select, textarea, button, summary, a[href]'))
  .filter((el) => !((el.labels && el.labels.length) || el.getAttribute('aria-label')
                    || el.getAttribute('aria-labelledby') || (el.textContent || '').trim()))
  .map((el) => el.outerHTML.slice(0, 120))"""


@dataclass
class CompanyKey:
    id: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def new_company(pipeline: Pipeline, name: str) -> CompanyKey:
    async with httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as client:
        r = await client.post(
            "/v1/companies", json={"name": name}, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}
        )
        assert r.status_code == 201, r.text
        return CompanyKey(r.json()["id"], r.json()["api_key"])


async def new_tenant(pipeline: Pipeline) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim:
        r = await sim.post("/_sim/tenants", json={"name": f"Browser Solar {uuid.uuid4().hex[:6]}"})
        assert r.status_code in (200, 201), r.text
        tenant: dict[str, Any] = r.json()
        return tenant


async def sign_in(page: Page, pipeline: Pipeline, key: str) -> None:
    await page.goto(pipeline.admin + "/")
    await page.get_by_label("Company key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/settings/integrations")
