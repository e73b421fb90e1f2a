"""The record of every agreement the integration hears about, against real Postgres: written by the trigger
filter's module, read the way the fetcher reads it (`project_agreements()`, `heard_agreement()`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from fetcher.heard_agreements import agreement_heard, agreement_to_use
from pipeline_common.events import WebhookReceived
from trigger_filter.heard_agreements import record_agreement

pytestmark = [pytest.mark.postgres]
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def _integration(pool: asyncpg.Pool[Any]) -> str:
    company_id, integration_id = uuid.uuid4(), uuid.uuid4()
    await pool.execute("INSERT INTO companies (id, name) VALUES ($1, 'Heard Agreements Solar')", company_id)
    await pool.execute(
        "INSERT INTO integrations (id, company_id, aurora_tenant_id, environment, token_ciphertext, token_hint) "
        "VALUES ($1, $2, $3, 'sandbox', '\\x00', 'sk_sand')",
        integration_id,
        company_id,
        f"tenant-{uuid.uuid4().hex[:8]}",
    )
    return str(integration_id)


def _webhook(
    integration_id: str, project: str, agreement: str, status: str, minutes: int, **ids: str
) -> WebhookReceived:
    return WebhookReceived(
        event_id=str(uuid.uuid4()),
        integration_id=integration_id,
        event="agreement_status_changed",
        aurora_project_id=project,
        agreement_id=agreement,
        status=status,
        received_at=T0 + timedelta(minutes=minutes),
        **ids,
    )


async def test_the_latest_signed_agreement_wins_and_signed_is_sticky(db_pool: asyncpg.Pool[Any]) -> None:
    integration = await _integration(db_pool)
    heard = [
        _webhook(integration, "p1", "a-old", "sent", 0),
        _webhook(integration, "p1", "a-old", "signed", 5, design_id="d1", financing_id=""),
        _webhook(integration, "p1", "a-new", "sent", 10),
        _webhook(integration, "p1", "a-old", "viewed", 15),  # late and out of order: cannot undo signed
        _webhook(integration, "p1", "a-old", "signed", 20),  # Aurora's duplicate: the signed date stays
        _webhook(integration, "p2", "a-other", "signed", 30),
    ]
    for webhook in heard:
        assert await record_agreement(db_pool, integration, webhook)

    chosen = await agreement_to_use(db_pool, integration, "p1")
    assert chosen is not None
    assert (chosen.agreement_id, chosen.status, chosen.signed_at) == ("a-old", "signed", T0 + timedelta(minutes=5))
    row = await db_pool.fetchrow("SELECT design_id, financing_id FROM heard_agreement($1::uuid, 'a-old')", integration)
    assert row is not None
    assert (row["design_id"], row["financing_id"]) == ("d1", None), "an empty <FINANCING_ID> names no financing"

    # A newer agreement signed later takes over; before any signature, the latest heard is used.
    await record_agreement(db_pool, integration, _webhook(integration, "p1", "a-new", "signed", 40))
    assert (await agreement_to_use(db_pool, integration, "p1")).agreement_id == "a-new"  # type: ignore[union-attr]
    await record_agreement(db_pool, integration, _webhook(integration, "p3", "b-1", "sent", 0))
    await record_agreement(db_pool, integration, _webhook(integration, "p3", "b-2", "viewed", 1))
    assert (await agreement_to_use(db_pool, integration, "p3")).agreement_id == "b-2"  # type: ignore[union-attr]
    assert await agreement_to_use(db_pool, integration, "no-such-project") is None
    assert (await agreement_heard(db_pool, integration, "b-1")).signed_at is None  # type: ignore[union-attr]


async def test_other_events_and_incomplete_webhooks_record_nothing(db_pool: asyncpg.Pool[Any]) -> None:
    integration = await _integration(db_pool)
    status = WebhookReceived(
        event_id=str(uuid.uuid4()),
        integration_id=integration,
        event="project_status_changed",
        aurora_project_id="p1",
        status="Installed",
        received_at=T0,
    )
    assert not await record_agreement(db_pool, integration, status)
    assert not await record_agreement(db_pool, integration, _webhook(integration, "p1", "", "signed", 0))
    assert not await record_agreement(db_pool, integration, _webhook(integration, "p1", "a1", " ", 0))
    assert await agreement_to_use(db_pool, integration, "p1") is None
