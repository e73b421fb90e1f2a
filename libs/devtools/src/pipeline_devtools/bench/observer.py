"""Watches the run's topics without a consumer group, so watching never disturbs the pipeline.

For every message it keeps, per Aurora project and topic: when the producer stamped it (the Kafka record's
CreateTime), the CloudEvents `ce_time` header, and when this independent consumer received it. A stage's
time is then "next topic's CreateTime - this topic's receive time", and the Kafka hop is "receive time -
CreateTime" as seen by a consumer on the same broker; the sum telescopes to the end-to-end time exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline_devtools.bench.stack import PARTITIONS


@dataclass(frozen=True)
class Seen:
    created: float  # Kafka CreateTime, seconds
    ce_time: float | None
    received: float  # when the observer got it


def _ce_time(headers: Sequence[tuple[str, bytes]]) -> float | None:
    for key, value in headers:
        if key == "ce_time":
            try:
                return datetime.fromisoformat(value.decode()).timestamp()
            except ValueError:
                return None
    return None


class TopicObserver:
    def __init__(
        self,
        bootstrap: str,
        topics: dict[str, str],
        *,
        on_imported: Callable[[str, Seen], None] | None = None,
        imported_label: str = "imported",
    ) -> None:
        """`topics` maps a short label (received, requested, fetched, imported) to the real topic name."""
        self.bootstrap = bootstrap
        self.topics = topics
        self.seen: dict[str, dict[str, Seen]] = {label: {} for label in topics}
        self.counts: dict[str, int] = dict.fromkeys(topics, 0)
        self.on_imported = on_imported
        self.imported_label = imported_label
        self._waiters: dict[str, asyncio.Future[Seen]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._labels = {topic: label for label, topic in topics.items()}

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=50
        )
        await consumer.start()
        parts = [TopicPartition(t, p) for t in self.topics.values() for p in range(PARTITIONS)]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        for tp in parts:
            await consumer.position(tp)  # makes the position real before anything is sent
        self._consumer = consumer
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=200, max_records=2000)
            now = time.time()
            for tp, records in batch.items():
                label = self._labels[tp.topic]
                store = self.seen[label]
                for record in records:
                    self.counts[label] += 1
                    try:
                        project = orjson.loads(record.value).get("aurora_project_id")
                    except orjson.JSONDecodeError:
                        continue
                    if not project or project in store:
                        continue
                    seen = Seen(record.timestamp / 1000, _ce_time(record.headers), now)
                    store[project] = seen
                    if label == self.imported_label:
                        waiter = self._waiters.pop(project, None)
                        if waiter is not None and not waiter.done():
                            waiter.set_result(seen)
                        if self.on_imported is not None:
                            self.on_imported(project, seen)

    async def imported(self, project_id: str, timeout: float) -> Seen | None:  # noqa: ASYNC109 - bounded wait
        if project_id in self.seen[self.imported_label]:
            return self.seen[self.imported_label][project_id]
        waiter = self._waiters.setdefault(project_id, asyncio.get_running_loop().create_future())
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            return None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()
