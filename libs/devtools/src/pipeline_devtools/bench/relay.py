"""4. Baseline: the pipeline's topic chain as a bare aiokafka relay on the same broker.

Four topics like the pipeline's; three relay processes (like the three consuming stages) each consume a
batch, publish every message to the next topic with the pipeline's producer settings (acks=all, idempotent,
same linger), wait for the acks, then commit — no decoding, no database, no Aurora. Messages are preloaded
into the first topic (the gateway's part is measured by the ingest phase), and the rate is taken while the
last topic fills, between 10 % and 90 % of the messages, so group joins and the tail are not counted.

Run as `python -m pipeline_devtools.bench.relay SOURCE TARGET GROUP` for one hop.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from pipeline_common.settings import KafkaSettings
from pipeline_devtools.bench.settings import BenchSettings
from pipeline_devtools.bench.stack import PARTITIONS, BenchStack, say

HOPS = ("relay.hop0", "relay.hop1", "relay.hop2", "relay.hop3")


def _producer(bootstrap: str) -> AIOKafkaProducer:
    kafka = KafkaSettings()
    return AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=kafka.linger_ms)


async def relay_hop(bootstrap: str, source: str, target: str, group: str) -> None:
    consumer = AIOKafkaConsumer(
        source, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    producer = _producer(bootstrap)
    await consumer.start()
    await producer.start()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            if not batch:
                continue
            sends = [
                await producer.send(target, record.value, key=record.key, headers=record.headers)
                for records in batch.values()
                for record in records
            ]
            await asyncio.gather(*sends)
            await consumer.commit({tp: records[-1].offset + 1 for tp, records in batch.items()})
    finally:
        await producer.stop()
        await consumer.stop()


async def _preload(bootstrap: str, topic: str, count: int, size: int) -> None:
    producer = _producer(bootstrap)
    await producer.start()
    try:
        body = b'{"event":"agreement_status_changed","pad":"' + b"x" * max(0, size - 46) + b'"}'
        pending = []
        for i in range(count):
            pending.append(await producer.send(topic, body, key=f"integration:{i % 997}".encode()))
            if len(pending) >= 2000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def _filled(consumer: AIOKafkaConsumer, topic: str) -> int:
    parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    ends = await consumer.end_offsets(parts)
    return int(sum(ends.values()))


async def run(stack: BenchStack, settings: BenchSettings) -> dict[str, Any]:
    bootstrap = stack.run.kafka_bootstrap
    names = [stack.topic(h) for h in HOPS]
    count = settings.relay_messages
    say(f"  preloading {count} messages of {settings.relay_message_bytes} bytes …")
    await _preload(bootstrap, names[0], count, settings.relay_message_bytes)
    processes = []
    env = {**os.environ}
    log = (stack.run.log_dir / "relay.log").open("ab")
    try:
        for i in range(3):
            processes.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "pipeline_devtools.bench.relay",
                    bootstrap,
                    names[i],
                    names[i + 1],
                    f"{stack.group_prefix}.relay{i}",
                    env=env,
                    stdout=log,
                    stderr=log,
                )
            )
        watcher = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await watcher.start()
        try:
            samples: list[tuple[float, int]] = []
            started = time.monotonic()
            limit = settings.phase_limits["relay"] - 10
            while time.monotonic() - started < limit:
                filled = await _filled(watcher, names[-1])
                samples.append((time.monotonic(), filled))
                if filled >= count:
                    break
                await asyncio.sleep(0.1)
        finally:
            await watcher.stop()
    finally:
        for process in processes:
            if process.returncode is None:
                process.terminate()
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()
    delivered = samples[-1][1] if samples else 0
    low = next(((t, n) for t, n in samples if n >= 0.1 * count), None)
    high = next(((t, n) for t, n in samples if n >= 0.9 * count), None)
    if low is None or high is None or high[0] <= low[0]:
        rate = None
    else:
        rate = round((high[1] - low[1]) / (high[0] - low[0]), 1)
    say(f"  relay: {rate if rate is not None else '—'} messages/s through three hops ({delivered}/{count} delivered)")
    return {
        "status": "ok" if rate is not None else "incomplete",
        "messages": count,
        "delivered": delivered,
        "message_bytes": settings.relay_message_bytes,
        "per_second": rate,
        "hops": len(HOPS) - 1,
    }


def main() -> None:
    bootstrap, source, target, group = sys.argv[1:5]
    asyncio.run(relay_hop(bootstrap, source, target, group))


if __name__ == "__main__":
    main()
