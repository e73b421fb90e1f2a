"""The settings page's routes keep the API's promises: a session cookie that cannot be read by scripts or
sent cross-site, a CSRF token on every change, and another company's ids answering 404."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest

from tests.browser.conftest import CompanyKey, new_company
from tests.fixtures.pipeline import Pipeline

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

STRATEGY = "/settings/integrations/aurora/matching-strategy"


def _token(html: str, name: str = "csrf_token") -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', html) or re.search(
        r'name="csrf-token" content="([^"]+)"', html
    )
    assert found, "no CSRF token in the page"
    return found.group(1)


@asynccontextmanager
async def _signed_in(pipeline: Pipeline, company: CompanyKey) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client holding a session cookie, and the session's CSRF token."""
    async with httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as client:
        form = await client.get("/sign-in")
        r = await client.post("/sign-in", data={"api_key": company.key, "csrf_token": _token(form.text), "next": "/"})
        assert r.status_code == 303, r.text
        page = await client.get("/settings/integrations")
        assert page.status_code == 200
        yield client, _token(page.text)


async def _connected_company(pipeline: Pipeline) -> CompanyKey:
    company = await new_company(pipeline, f"Secure Solar {uuid.uuid4().hex[:6]}")
    async with httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim:
        tenant = (await sim.post("/_sim/tenants", json={"name": "Secure tenant"})).json()
    async with httpx.AsyncClient(base_url=pipeline.admin, headers=company.auth, timeout=30) as api:
        r = await api.post(
            "/v1/integrations/aurora", json={"tenant_id": tenant["tenant_id"], "bearer_token": tenant["api_key"]}
        )
        assert r.status_code == 201, r.text
    return company


async def _strategy(pipeline: Pipeline, company: CompanyKey) -> str:
    async with httpx.AsyncClient(base_url=pipeline.admin, headers=company.auth, timeout=30) as api:
        value: str = (await api.get("/v1/integrations/aurora")).json()["matching_strategy"]
        return value


async def test_sign_in_sets_a_protected_expiring_cookie(pipeline: Pipeline) -> None:
    company = await new_company(pipeline, "Cookie Solar")
    async with httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as client:
        # Pages need a session; the sign-in form comes back to where the visitor wanted to go.
        r = await client.get("/settings/integrations/aurora")
        assert r.status_code == 303
        assert r.headers["location"].startswith("/sign-in?next=")
        form = await client.get("/sign-in")
        token = _token(form.text)

        refused = await client.post("/sign-in", data={"api_key": company.key})
        assert refused.status_code == 403, "sign-in without its CSRF token must be refused"
        refused = await client.post("/sign-in", data={"api_key": company.key, "csrf_token": "forged"})
        assert refused.status_code == 403
        wrong_key = await client.post("/sign-in", data={"api_key": "crm_not-a-key", "csrf_token": token})
        assert wrong_key.status_code == 401
        assert "not valid" in wrong_key.text

        r = await client.post("/sign-in", data={"api_key": company.key, "csrf_token": token, "next": "//evil.example"})
        assert r.status_code == 303
        assert r.headers["location"] == "/settings/integrations", "next must stay on this site"
        cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and "aurora_admin_session=" in v)
        lowered = cookie.lower()
        assert "httponly" in lowered
        assert "samesite=lax" in lowered
        assert "max-age=" in lowered
        assert company.key not in cookie, "the cookie is an opaque token, not the key"

        # Sign out needs the CSRF token too, and ends the session on the server, not just in the browser.
        page = await client.get("/settings/integrations")
        csrf = _token(page.text)
        session_cookie = client.cookies.get("aurora_admin_session")
        assert (await client.post("/sign-out")).status_code == 403
        r = await client.post("/sign-out", data={"csrf_token": csrf})
        assert r.status_code == 303
        assert (await client.get("/settings/integrations")).status_code == 303
    async with httpx.AsyncClient(
        base_url=pipeline.admin, cookies={"aurora_admin_session": session_cookie or ""}, timeout=30
    ) as replay:
        assert (await replay.get("/settings/integrations")).status_code == 303, "a signed-out cookie still worked"


async def test_every_change_needs_the_csrf_token(pipeline: Pipeline) -> None:
    company = await _connected_company(pipeline)
    async with _signed_in(pipeline, company) as (client, csrf):
        for attempt in (
            {"data": {"strategy": "skip"}},
            {"data": {"strategy": "skip", "csrf_token": "forged"}},
            {"data": {"strategy": "skip"}, "headers": {"X-CSRF-Token": "forged", "Accept": "application/json"}},
        ):
            r = await client.post(STRATEGY, **attempt)  # type: ignore[arg-type]
            assert r.status_code == 403, attempt
        assert await _strategy(pipeline, company) == "enrich", "a refused request changed something"
        for path in (
            "/settings/integrations/aurora/triggers",
            "/settings/integrations/aurora/workflow",
            "/settings/integrations/aurora/custom-mappings",
            "/settings/integrations/aurora/token",
            "/settings/integrations/aurora/resync",
            "/settings/integrations/aurora/backfill",
            "/settings/integrations/aurora/disconnect",
            "/settings/integrations/aurora/connect",
        ):
            assert (await client.post(path, data={})).status_code == 403, path

        # The same change with the token: as a form post (redirect) and as the page's fetch() (JSON).
        r = await client.post(STRATEGY, data={"strategy": "skip", "csrf_token": csrf})
        assert r.status_code == 303
        assert await _strategy(pipeline, company) == "skip"
        r = await client.post(
            STRATEGY, data={"strategy": "replace"}, headers={"X-CSRF-Token": csrf, "Accept": "application/json"}
        )
        assert r.status_code == 200, r.text
        assert r.json()["ok"] is True
        assert await _strategy(pipeline, company) == "replace"

    # Without a session a fetch() gets the API's 401 shape, not a sign-in page.
    async with httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as anonymous:
        r = await anonymous.post(STRATEGY, data={"strategy": "skip"}, headers={"Accept": "application/json"})
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"


async def _project_of(db_pool: asyncpg.Pool[Any], company_id: str) -> tuple[uuid.UUID, uuid.UUID]:
    project_id, document_id = uuid.uuid4(), uuid.uuid4()
    content = b"%PDF-1.4 isolation test"
    sha = hashlib.sha256(content).hexdigest()
    await db_pool.execute(
        "INSERT INTO projects (id, company_id, title, source, aurora_project_id) VALUES ($1, $2, $3, 'aurora', $4)",
        project_id,
        uuid.UUID(company_id),
        "Private Project of A",
        str(uuid.uuid4()),
    )
    await db_pool.execute(
        "INSERT INTO document_blobs (sha256, content, size, content_type) VALUES ($1, $2, $3, 'application/pdf') "
        "ON CONFLICT DO NOTHING",
        sha,
        content,
        len(content),
    )
    await db_pool.execute(
        "INSERT INTO documents (id, project_id, kind, file_name, content_type, sha256, size, source) "
        "VALUES ($1, $2, 'proposal', 'a.pdf', 'application/pdf', $3, $4, 'aurora')",
        document_id,
        project_id,
        sha,
        len(content),
    )
    return project_id, document_id


async def test_another_companys_pages_are_not_found(pipeline: Pipeline, db_pool: asyncpg.Pool[Any]) -> None:
    owner = await new_company(pipeline, "Owner Solar")
    other = await _connected_company(pipeline)
    project_id, document_id = await _project_of(db_pool, owner.id)

    async with _signed_in(pipeline, owner) as (owner_client, _):
        assert (await owner_client.get(f"/projects/{project_id}")).status_code == 200
        doc = await owner_client.get(f"/projects/{project_id}/documents/{document_id}")
        assert doc.status_code == 200
        assert doc.content.startswith(b"%PDF")

    async with _signed_in(pipeline, other) as (client, csrf):
        page = await client.get(f"/projects/{project_id}")
        assert page.status_code == 404
        assert "Private Project of A" not in page.text
        assert (await client.get(f"/projects/{project_id}/documents/{document_id}")).status_code == 404
        assert "Private Project of A" not in (await client.get("/projects")).text
        assert (await client.get(f"/settings/integrations/aurora/backfill/{uuid.uuid4()}")).status_code == 404
        r = await client.post(
            f"/settings/integrations/aurora/custom-mappings/{uuid.uuid4()}/delete",
            data={"csrf_token": csrf},
            headers={"Accept": "application/json"},
        )
        assert r.status_code == 404


async def test_forms_work_without_javascript(pipeline: Pipeline) -> None:
    """Plain form posts (no fetch): outcomes arrive as redirects and a one-time message on the next page."""
    company = await new_company(pipeline, "Plain Forms Solar")
    async with _signed_in(pipeline, company) as (client, csrf):
        wrong = "sk_sand_plain-form-wrong-token"
        r = await client.post(
            "/settings/integrations/aurora/connect",
            data={"tenant_id": "some-tenant", "bearer_token": wrong, "csrf_token": csrf},
        )
        assert r.status_code == 303
        assert r.headers["location"] == "/settings/integrations?connect=1"
        page = await client.get(r.headers["location"])
        assert re.search(r'<dialog id="connect-dialog"[^>]*\bopen\b', page.text), "the dialog is not reopened"
        assert "Aurora rejected the bearer token" in page.text
        assert wrong not in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        # The message is shown once.
        assert "Aurora rejected" not in (await client.get("/settings/integrations")).text
        # Not connected yet: the configuration page sends the visitor back to the card.
        r = await client.get("/settings/integrations/aurora")
        assert r.status_code == 303
        assert r.headers["location"] == "/settings/integrations"
