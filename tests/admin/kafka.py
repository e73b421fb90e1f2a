"""Reading what the admin published, straight from the real broker."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer

from pipeline_common import topics
from pipeline_common.events import ImportRequested


async def import_requests(bootstrap: str, *, match: set[str], wait_seconds: float = 20.0) -> dict[str, ImportRequested]:
    """ImportRequested events whose event id is in `match`, read from the start of the topic."""
    consumer = AIOKafkaConsumer(
        topics.IMPORT_REQUESTED, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: dict[str, ImportRequested] = {}
    deadline = time.monotonic() + wait_seconds
    try:
        while time.monotonic() < deadline and not match <= set(found):
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    event = ImportRequested.from_bytes(record.value)
                    if event.event_id in match:
                        found[event.event_id] = event
                        assert record.key == topics.message_key(event.integration_id, event.aurora_project_id)
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return found
