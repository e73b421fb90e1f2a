"""Which webhook-secret generations each integration accepts, refreshed from Postgres off the request path.

The secret itself is verified by HMAC (pipeline_common.secrets.WebhookSigner), so the gateway needs no
database to authenticate a webhook; this cache only retires old generations after a rotation. When the
database is unreachable the last known state stays in force.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import asyncpg

from pipeline_common.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class AcceptedGenerations:
    current: int
    previous: int | None

    def accepts(self, generation: int) -> bool:
        return generation == self.current or generation == self.previous


class IntegrationDirectory:
    def __init__(self, pool: asyncpg.Pool[Any] | None, refresh_seconds: float) -> None:
        self._pool = pool
        self._refresh_seconds = refresh_seconds
        self._generations: dict[str, AcceptedGenerations] = {}
        self._task: asyncio.Task[None] | None = None
        self.loaded = False

    def accepts(self, integration_id: str, generation: int) -> bool:
        known = self._generations.get(integration_id)
        # An integration created after the last refresh is not known yet: its HMAC is enough.
        return known is None or known.accepts(generation)

    async def refresh(self) -> None:
        if self._pool is None:
            return
        rows = await self._pool.fetch(
            "SELECT id::text AS id, webhook_generation, webhook_previous_generation FROM integration_webhook_keys"
        )
        self._generations = {
            r["id"]: AcceptedGenerations(r["webhook_generation"], r["webhook_previous_generation"]) for r in rows
        }
        self.loaded = True

    async def _loop(self) -> None:
        while True:
            try:
                await self.refresh()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("integration_refresh_failed", error=type(exc).__name__)
            await asyncio.sleep(self._refresh_seconds)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
