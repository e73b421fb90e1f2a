"""Fixtures for the fetcher's component tests: a Postgres database of their own and companies in it.

The queue tests get a separate database (not the session's shared one): a pipeline started by end-to-end
tests in the same session runs a real fetcher whose scheduler would otherwise claim these tests' jobs.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from fetcher.queue import FetchQueue
from pipeline_common.database import create_pool
from pipeline_common.events import ImportReason, ImportRequested, TriggerRef, utcnow
from pipeline_common.secrets import TokenCipher
from pipeline_common.settings import DatabaseSettings
from tests.fixtures.infra import Infra, fresh_database

CIPHER = TokenCipher(["fetcher-test-token-key"])


@pytest.fixture(scope="session")
def fetcher_database_url(infra: Infra) -> Iterator[str]:
    with fresh_database(infra, "fetcher_test") as url:
        yield url


@pytest.fixture(scope="session")
async def fetcher_pool(fetcher_database_url: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    pool = await create_pool(DatabaseSettings(DATABASE_URL=SecretStr(fetcher_database_url)))  # type: ignore[call-arg]
    yield pool
    await pool.close()


@pytest.fixture
def queue(fetcher_pool: asyncpg.Pool[Any]) -> FetchQueue:
    return FetchQueue(fetcher_pool)


@dataclass
class Company:
    company_id: str
    integration_id: str
    tenant_id: str
    seq: list[int] = field(default_factory=lambda: [0])

    def request(
        self,
        project_id: str,
        *,
        event_id: str | None = None,
        reason: ImportReason = ImportReason.TRIGGER,
        trigger: TriggerRef | None = None,
        **fields: Any,
    ) -> ImportRequested:
        event_id = event_id or str(uuid.uuid4())
        return ImportRequested(
            event_id=event_id,
            causation_id=event_id,
            company_id=self.company_id,
            integration_id=self.integration_id,
            aurora_tenant_id=self.tenant_id,
            aurora_project_id=project_id,
            reason=reason,
            trigger=trigger or TriggerRef(kind="agreement_status_changed", status="signed"),
            received_at=utcnow(),
            **fields,
        )


async def add_company(pool: asyncpg.Pool[Any], *, tenant_id: str = "tenant", api_key: str = "sk_sand_x") -> Company:
    company_id, integration_id = uuid.uuid4(), uuid.uuid4()
    await pool.execute("INSERT INTO companies (id, name) VALUES ($1, 'Fetcher Test Solar')", company_id)
    await pool.execute(
        "INSERT INTO integrations (id, company_id, aurora_tenant_id, environment, token_ciphertext, token_hint) "
        "VALUES ($1, $2, $3, 'sandbox', $4, 'sk_sand')",
        integration_id,
        company_id,
        tenant_id,
        CIPHER.encrypt(SecretStr(api_key)),
    )
    return Company(str(company_id), str(integration_id), tenant_id)


@pytest.fixture
async def company(fetcher_pool: asyncpg.Pool[Any]) -> Company:
    return await add_company(fetcher_pool)
