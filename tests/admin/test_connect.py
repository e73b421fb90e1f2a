"""Connect, read, triggers and disconnect against the emulator over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import pytest

from pipeline_common import webhooks
from pipeline_common.secrets import TokenCipher
from pipeline_common.settings import CryptoSettings
from tests.admin.conftest import PUBLIC_BASE, AdminApi, aurora_webhooks, closed_port
from tests.fixtures.aurora_sim import AuroraSim, SimTenant, start_aurora_sim

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

URL = "/v1/integrations/aurora"


async def test_connect_verifies_stores_encrypted_and_registers_subscriptions(
    admin: AdminApi, aurora_sim: AuroraSim, tenant: SimTenant, db_pool: object
) -> None:
    company = await admin.company()
    r = await company.connect(tenant)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "active"
    assert body["environment"] == "sandbox"
    assert body["tenant_id"] == tenant.tenant_id
    assert body["token_hint"] == "sk_sand"
    assert body["webhook_url"] == f"{PUBLIC_BASE}/webhooks/aurora/{body['id']}"
    assert body["triggers"] == [{"kind": "agreement_status_changed", "statuses": ["signed"]}]
    assert body["matching_strategy"] == "enrich"
    assert body["workflow"] is None
    assert body["counters"] == {"imported": 0, "skipped": 0, "failed": 0, "last_event_at": None}
    assert tenant.api_key not in r.text

    hooks = aurora_webhooks(aurora_sim, tenant)
    assert len(hooks) == 1
    hook = hooks[0]
    assert hook["event"] == "agreement_status_changed"
    assert hook["enabled"] is True
    assert hook["header_auth_key"] == webhooks.SECRET_HEADER
    assert hook["url_template"] == webhooks.url_template(PUBLIC_BASE, body["id"], "agreement_status_changed")
    assert body["subscriptions"] == [{"event": "agreement_status_changed", "aurora_webhook_id": hook["id"]}]

    # Aurora now fires at our gateway URL with the ids substituted.
    project = aurora_sim.create_project(tenant.tenant_id)
    assert project.agreement_id is not None
    aurora_sim.set_agreement_status(tenant.tenant_id, project.agreement_id, "signed")
    urls = [d["url"] for d in aurora_sim.deliveries(webhook_id=hook["id"])]
    assert any(u.startswith(body["webhook_url"]) and f"project_id={project.project_id}" in u for u in urls), urls

    stored = await db_pool.fetchrow(  # type: ignore[attr-defined]
        "SELECT token_ciphertext, webhook_generation FROM integrations WHERE id = $1", uuid.UUID(body["id"])
    )
    assert tenant.api_key.encode() not in bytes(stored["token_ciphertext"])
    assert TokenCipher.from_settings(CryptoSettings()).decrypt(stored["token_ciphertext"]).get_secret_value() == (
        tenant.api_key
    )

    again = await company.connect(tenant)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_connected"


async def test_wrong_token_is_refused_with_auroras_reason(admin: AdminApi, tenant: SimTenant) -> None:
    company = await admin.company()
    r = await company.post(URL, {"tenant_id": tenant.tenant_id, "bearer_token": "sk_sand_not-a-real-key"})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_credentials"
    assert "Invalid API key" in error["message"]
    assert (await company.get(URL)).status_code == 404


async def test_wrong_tenant_is_refused(admin: AdminApi, aurora_sim: AuroraSim, tenant: SimTenant) -> None:
    other = aurora_sim.create_tenant("Someone else")
    company = await admin.company()
    r = await company.post(URL, {"tenant_id": other.tenant_id, "bearer_token": tenant.api_key})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_credentials"
    assert "tenant" in r.json()["error"]["message"]
    assert aurora_webhooks(aurora_sim, other) == []


async def test_sandbox_key_against_production_aurora_is_refused(
    open_admin: Callable[..., Awaitable[tuple[AdminApi, AsyncExitStack]]], aurora_sim: AuroraSim, tenant: SimTenant
) -> None:
    with start_aurora_sim(ENVIRONMENT="production") as production:
        prod_tenant = production.create_tenant("Production tenant")
        assert "_prod_" in prod_tenant.api_key
        api, stack = await open_admin(production.base_url)
        async with stack:
            company = await api.company()
            r = await company.post(URL, {"tenant_id": prod_tenant.tenant_id, "bearer_token": tenant.api_key})
            assert r.status_code == 422, r.text
            assert r.json()["error"]["code"] == "invalid_credentials"
            assert "environment" in r.json()["error"]["message"]
            assert tenant.api_key not in r.text
            # …while the tenant's own production key connects, as production.
            ok = await company.connect(prod_tenant)
            assert ok.status_code == 201, ok.text
            assert ok.json()["environment"] == "production"
            assert ok.json()["token_hint"] == "sk_prod"


async def test_aurora_down_answers_502_and_saves_nothing(
    open_admin: Callable[..., Awaitable[tuple[AdminApi, AsyncExitStack]]], tenant: SimTenant, db_pool: object
) -> None:
    api, stack = await open_admin(f"http://127.0.0.1:{closed_port()}")
    async with stack:
        company = await api.company()
        r = await company.connect(tenant)
        assert r.status_code == 502, r.text
        assert r.json()["error"]["code"] == "aurora_unavailable"
        assert (await company.get(URL)).status_code == 404
        count = await db_pool.fetchval(  # type: ignore[attr-defined]
            "SELECT count(*) FROM integrations WHERE company_id = $1", company.id
        )
        assert count == 0


async def test_triggers_reregister_subscriptions_and_disconnect_removes_them(
    admin: AdminApi, aurora_sim: AuroraSim, tenant: SimTenant, db_pool: object
) -> None:
    company = await admin.company()
    assert (await company.connect(tenant)).status_code == 201
    first_hook = aurora_webhooks(aurora_sim, tenant)[0]["id"]

    both = {
        "triggers": [
            {"kind": "agreement_status_changed", "statuses": ["viewed", "Signed"]},
            {"kind": "project_status_changed", "statuses": ["  Design   Ready ", "Permit Submitted"]},
        ]
    }
    r = await company.put(f"{URL}/triggers", both)
    assert r.status_code == 200, r.text
    assert r.json()["triggers"] == [
        {"kind": "agreement_status_changed", "statuses": ["viewed", "signed"]},
        {"kind": "project_status_changed", "statuses": ["Design Ready", "Permit Submitted"]},
    ]
    hooks = {h["event"]: h for h in aurora_webhooks(aurora_sim, tenant)}
    assert set(hooks) == {"agreement_status_changed", "project_status_changed"}
    assert hooks["agreement_status_changed"]["id"] == first_hook  # unchanged subscriptions are kept

    only_project = {"triggers": [{"kind": "project_status_changed", "statuses": ["Design Ready"]}]}
    r = await company.put(f"{URL}/triggers", only_project)
    assert r.status_code == 200, r.text
    # Agreements are always heard (Aurora cannot list them): a project-status import finds the signed one.
    hooks_now = {h["event"]: h["id"] for h in aurora_webhooks(aurora_sim, tenant)}
    assert set(hooks_now) == {"agreement_status_changed", "project_status_changed"}
    assert hooks_now["agreement_status_changed"] == first_hook
    assert (await company.get(f"{URL}/triggers")).json()["subscriptions"] == [
        {"event": "agreement_status_changed", "aurora_webhook_id": first_hook},
        {"event": "project_status_changed", "aurora_webhook_id": hooks_now["project_status_changed"]},
    ]

    # An imported project stays after the disconnect.
    await db_pool.execute(  # type: ignore[attr-defined]
        "INSERT INTO projects (id, company_id, title, source, aurora_project_id) "
        "VALUES ($1, $2, 'kept', 'aurora', 'p1')",
        uuid.uuid4(),
        company.id,
    )
    r = await company.delete(URL)
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "disconnected", "subscriptions_deleted": 2, "subscriptions_not_deleted": []}
    assert aurora_webhooks(aurora_sim, tenant) == []
    read = (await company.get(URL)).json()
    assert read["status"] == "disconnected"
    assert read["subscriptions"] == []
    assert (await company.get("/v1/projects", params={"aurora_project_id": "p1"})).json()["items"][0]["title"] == "kept"
    log = (await company.get(f"{URL}/log", params={"kind": "disconnected"})).json()["items"]
    assert len(log) == 1

    # Reconnecting works and keeps the settings made before.
    r = await company.connect(tenant)
    assert r.status_code == 201, r.text
    assert r.json()["id"] == read["id"]
    assert r.json()["triggers"] == only_project["triggers"]
    assert sorted(h["event"] for h in aurora_webhooks(aurora_sim, tenant)) == [
        "agreement_status_changed",
        "project_status_changed",
    ]
    generation = await db_pool.fetchval(  # type: ignore[attr-defined]
        "SELECT webhook_generation FROM integrations WHERE id = $1", uuid.UUID(read["id"])
    )
    assert generation == 2


@pytest.mark.parametrize(
    ("triggers", "field", "fragment"),
    [
        ([], "triggers", "at least one trigger"),
        (
            [{"kind": "agreement_status_changed", "statuses": ["signed", "approved"]}],
            "triggers[0].statuses",
            "approved",
        ),
        ([{"kind": "agreement_status_changed", "statuses": []}], "triggers[0].statuses", "at least one status"),
        ([{"kind": "project_status_changed", "statuses": ["  "]}], "triggers[0].statuses", "blank"),
        ([{"kind": "design_created", "statuses": ["x"]}], "triggers[0].kind", ""),
        (
            [
                {"kind": "project_status_changed", "statuses": ["A"]},
                {"kind": "project_status_changed", "statuses": ["B"]},
            ],
            "triggers[1].kind",
            "only one",
        ),
        ([{"kind": "project_status_changed"}], "triggers[0].statuses", "required"),
    ],
)
async def test_invalid_triggers_are_refused_naming_the_problem(
    admin: AdminApi, aurora_sim: AuroraSim, tenant: SimTenant, triggers: list[object], field: str, fragment: str
) -> None:
    company = await admin.company()
    assert (await company.connect(tenant)).status_code == 201
    r = await company.put(f"{URL}/triggers", {"triggers": triggers})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == field
    assert fragment in error["message"]
    assert (await company.get(f"{URL}/triggers")).json()["triggers"] == [
        {"kind": "agreement_status_changed", "statuses": ["signed"]}
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"bearer_token": "sk_sand_x"}, "tenant_id"),
        ({"tenant_id": "t"}, "bearer_token"),
        ({"tenant_id": "  ", "bearer_token": "sk_sand_x"}, "tenant_id"),
        ({"tenant_id": "t", "bearer_token": "has space"}, "bearer_token"),
    ],
)
async def test_connect_validation(admin: AdminApi, body: dict[str, str], field: str) -> None:
    company = await admin.company()
    r = await company.post(URL, body)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"
    assert r.json()["error"]["field"] == field
    assert "has space" not in r.text
