"""The admin app against real PostgreSQL, real Kafka and the Aurora emulator over HTTP.

The app itself runs in-process (httpx ASGITransport, lifespan entered by hand); everything it talks to is
real. Every response body any test receives is kept, so one test can assert no token ever leaked.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from admin.app import create_app
from admin.settings import AdminSettings
from pipeline_common.aurora import AuroraSettings
from pipeline_common.settings import CryptoSettings, DatabaseSettings, KafkaSettings
from tests.fixtures.aurora_sim import AuroraSim, SimTenant

OPERATOR_TOKEN = "operator-secret-for-tests"
PUBLIC_BASE = "https://hooks.crm.example"
# Everything any admin response ever contained, for the "token never leaves" test.
SEEN_RESPONSES: list[str] = []
# Every Aurora key a test handed to the admin API.
AURORA_KEYS: list[str] = []


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens once the socket is closed


def make_settings(database_url: str, kafka: str, aurora_base_url: str, **overrides: Any) -> AdminSettings:
    return AdminSettings(
        operator_token=SecretStr(OPERATOR_TOKEN),
        public_webhook_base_url=PUBLIC_BASE,
        database=DatabaseSettings(DATABASE_URL=SecretStr(database_url)),  # type: ignore[call-arg]
        kafka=KafkaSettings(bootstrap_servers=kafka),
        crypto=overrides.pop("crypto", CryptoSettings()),
        # Tests want Aurora's verdict fast: few retries, short waits.
        aurora=AuroraSettings(base_url=aurora_base_url, max_retries=1, retry_base_delay=0.05, connect_timeout=2.0),
        **overrides,
    )


@dataclass
class AdminApi:
    app: FastAPI
    client: httpx.AsyncClient

    async def company(self, name: str = "Acme Solar") -> Company:
        r = await self.client.post(
            "/v1/companies", json={"name": name}, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}
        )
        assert r.status_code == 201, r.text
        body = r.json()
        return Company(self, uuid.UUID(body["id"]), body["api_key"])


@dataclass
class Company:
    api: AdminApi
    id: uuid.UUID
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        return await self.api.client.request(method, path, headers={**self.headers, **(headers or {})}, **kwargs)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, json=json, **kwargs)

    async def put(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", path, json=json, **kwargs)

    async def patch(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", path, json=json, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", path, **kwargs)

    async def connect(self, tenant: SimTenant) -> httpx.Response:
        return await self.post(
            "/v1/integrations/aurora", {"tenant_id": tenant.tenant_id, "bearer_token": tenant.api_key}
        )


async def _record(response: httpx.Response) -> None:
    await response.aread()
    SEEN_RESPONSES.append(response.text + " " + " ".join(f"{k}:{v}" for k, v in response.headers.items()))


@pytest.fixture(scope="session")
def open_admin(database_url: str, kafka_bootstrap: str) -> Callable[[str], Awaitable[tuple[AdminApi, AsyncExitStack]]]:
    async def open_(aurora_base_url: str, **overrides: Any) -> tuple[AdminApi, AsyncExitStack]:
        stack = AsyncExitStack()
        app = create_app(make_settings(database_url, kafka_bootstrap, aurora_base_url, **overrides))
        await stack.enter_async_context(app.router.lifespan_context(app))
        client = await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://admin.test",
                event_hooks={"response": [_record]},
            )
        )
        return AdminApi(app, client), stack

    return open_


@pytest.fixture(scope="session")
async def admin(
    aurora_sim: AuroraSim, open_admin: Callable[[str], Awaitable[tuple[AdminApi, AsyncExitStack]]]
) -> AsyncIterator[AdminApi]:
    api, stack = await open_admin(aurora_sim.base_url)
    async with stack:
        yield api


@pytest.fixture
def tenant(aurora_sim: AuroraSim) -> SimTenant:
    created = aurora_sim.create_tenant(f"Tenant {uuid.uuid4().hex[:6]}")
    AURORA_KEYS.append(created.api_key)
    return created


def aurora_webhooks(sim: AuroraSim, tenant: SimTenant) -> list[dict[str, Any]]:
    with sim.api(tenant.api_key) as client:
        r = client.get(f"/tenants/{tenant.tenant_id}/webhooks", params={"per_page": 250})
        assert r.status_code == 200, r.text
        hooks: list[dict[str, Any]] = r.json()["webhooks"]
        return hooks
