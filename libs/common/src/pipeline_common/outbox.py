"""Transactional outbox: a stage writes the message it owes in the same transaction as its effects; the
relay publishes it afterwards, so an effect and its announcement can never disagree.

Several relay copies may run (one per importer process): each claims rows with `FOR UPDATE SKIP LOCKED`
and marks them published in the transaction that held the lock, so a row goes out once per successful
claim (at-least-once if a relay dies between the broker's ack and its commit; consumers dedupe by event id).
A NOTIFY on insert wakes the relays at once; a slow poll covers a missed notification.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
from faststream.kafka import KafkaBroker

from pipeline_common.events import Contract, cloudevent_headers
from pipeline_common.logs import get_logger
from pipeline_common.metrics import OUTBOX_BACKLOG

log = get_logger(__name__)
CHANNEL = "outbox"


async def enqueue(conn: Any, event: Contract, *, event_id: str, source: str, key: bytes, subject: str) -> None:
    headers = cloudevent_headers(event, event_id=event_id, source=source, subject=subject)
    await conn.execute(
        "INSERT INTO outbox (topic, message_key, headers, payload) VALUES ($1, $2, $3, $4)",
        event.topic,
        key,
        headers,
        event.to_bytes(),
    )
    await conn.execute(f"NOTIFY {CHANNEL}")


class OutboxRelay:
    def __init__(
        self, pool: asyncpg.Pool[Any], broker: KafkaBroker, *, batch: int = 200, poll_seconds: float = 1.0
    ) -> None:
        self.pool = pool
        self.broker = broker
        self.batch = batch
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: Any = None

    async def publish_pending(self) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, topic, message_key, headers, payload FROM outbox WHERE published_at IS NULL "
                "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self.batch,
            )
            if not rows:
                return 0
            sends = [
                await self.broker.publish(
                    r["payload"], topic=r["topic"], key=r["message_key"], headers=dict(r["headers"]), no_confirm=True
                )
                for r in rows
            ]
            # Wait for every acknowledgement before marking anything published.
            await asyncio.gather(*sends)
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
            )
            return len(rows)

    async def _run(self) -> None:
        self._listener = await self.pool.acquire()
        await self._listener.add_listener(CHANNEL, self._on_notify)
        while True:
            try:
                while await self.publish_pending() == self.batch:
                    pass
                backlog = await self.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                OUTBOX_BACKLOG.set(backlog or 0)
            except Exception as exc:
                log.warning("outbox_relay_failed", error=type(exc).__name__, detail=str(exc)[:200])
                await asyncio.sleep(1.0)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    def wake(self) -> None:
        """Called by the stage in the same process right after its commit: skips the NOTIFY round trip."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._listener is not None:
            await self._listener.remove_listener(CHANNEL, self._on_notify)
            await self.pool.release(self._listener)
