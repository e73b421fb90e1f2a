"""Read-only views of the topics for operators: offsets, lag per consumer group, bounded scans."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    end_offset: int
    committed: int | None

    @property
    def lag(self) -> int:
        return self.end_offset - (self.committed or 0)


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: str | None
    headers: dict[str, str]
    value: bytes

    def body(self) -> Any:
        try:
            return orjson.loads(self.value)
        except orjson.JSONDecodeError:
            return self.value.decode(errors="replace")


async def partitions_of(bootstrap: str, topics: list[str]) -> list[TopicPartition]:
    """Partitions from a metadata request (the consumer's cache only knows subscribed topics)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in topics if t in existing]
        described = await admin.describe_topics(wanted) if wanted else []
    finally:
        await admin.close()
    return sorted(
        (TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]),
        key=lambda tp: (tp.topic, tp.partition),
    )


async def topic_offsets(bootstrap: str, topics: list[str]) -> dict[TopicPartition, int]:
    partitions = await partitions_of(bootstrap, topics)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(partitions)) if partitions else {}
    finally:
        await consumer.stop()


async def group_lag(bootstrap: str) -> dict[str, list[PartitionLag]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        groups = [g[0] for g in await admin.list_consumer_groups()]
        committed: dict[str, dict[TopicPartition, int]] = {}
        for group in groups:
            offsets = await admin.list_consumer_group_offsets(group)
            committed[group] = {tp: meta.offset for tp, meta in offsets.items()}
    finally:
        await admin.close()
    all_topics = sorted({tp.topic for offsets in committed.values() for tp in offsets})
    ends = await topic_offsets(bootstrap, all_topics)
    result: dict[str, list[PartitionLag]] = {}
    for group, offsets in sorted(committed.items()):
        result[group] = [
            PartitionLag(tp.topic, tp.partition, ends.get(tp, 0), offsets.get(tp))
            for tp in sorted(offsets, key=lambda t: (t.topic, t.partition))
        ]
    return result


async def scan(
    bootstrap: str,
    topic: str,
    *,
    from_beginning: bool = True,
    follow: bool = False,
    limit: int | None = None,
    idle_seconds: float = 2.0,
) -> AsyncIterator[Record]:
    """Reads without a consumer group (no offsets committed): inspecting never disturbs the pipeline."""
    partitions = await partitions_of(bootstrap, [topic])
    if not partitions:
        return
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        consumer.assign(partitions)
        if from_beginning:
            await consumer.seek_to_beginning(*partitions)
        else:
            await consumer.seek_to_end(*partitions)
        ends = await consumer.end_offsets(partitions)
        seen = 0
        last_data = time.monotonic()
        while True:
            batch = await consumer.getmany(timeout_ms=300, max_records=500)
            for records in batch.values():
                for r in records:
                    last_data = time.monotonic()
                    yield Record(
                        r.topic,
                        r.partition,
                        r.offset,
                        r.timestamp,
                        r.key.decode() if r.key else None,
                        {k: v.decode(errors="replace") for k, v in r.headers},
                        r.value,
                    )
                    seen += 1
                    if limit is not None and seen >= limit:
                        return
            if not follow:
                positions = {tp: await consumer.position(tp) for tp in partitions}
                if all(positions[tp] >= ends[tp] for tp in partitions) or time.monotonic() - last_data > idle_seconds:
                    return
    finally:
        await consumer.stop()
