"""The stage runtime's failure routing, retry relay and circuit breaker, on a real broker, in one process.

Each test gets its own input topic (with `.retry` and `.dlq`), so no running service consumes what it sends;
the handler is the test's own, failing on purpose. The fault suite covers the same paths with processes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker

from pipeline_common import topics
from pipeline_common.broker import make_broker
from pipeline_common.errors import PermanentError, TransientError
from pipeline_common.events import Contract
from pipeline_common.retry import RetryPolicy
from pipeline_common.settings import KafkaSettings
from pipeline_common.stage import ATTEMPT_HEADER, NOT_BEFORE_HEADER, RetryRelay, Stage


class Ping(Contract):
    ce_type: ClassVar[str] = "test.ping.v1"
    topic: ClassVar[str] = "unused"

    n: int


@dataclass
class Rig:
    bootstrap: str
    topic: str
    broker: KafkaBroker
    consumers: list[AIOKafkaConsumer] = field(default_factory=list)

    async def reader(self, topic: str) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=self.bootstrap, group_id=f"t-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest"
        )
        await consumer.start()
        self.consumers.append(consumer)
        return consumer

    async def take(self, topic: str, count: int, timeout: float = 20.0) -> list[tuple[dict[str, str], bytes, float]]:  # noqa: ASYNC109 - a bounded wait is the point
        consumer = await self.reader(topic)
        found: list[tuple[dict[str, str], bytes, float]] = []
        deadline = time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found.extend(({k: v.decode() for k, v in r.headers}, r.value, time.time()) for r in records)
        return found

    def stage(self, handler: Any, policy: RetryPolicy) -> Stage[Ping]:
        return Stage(
            name=f"test-{uuid.uuid4().hex[:6]}",
            broker=self.broker,
            input_topic=self.topic,
            contract=Ping,
            handler=handler,
            policy=policy,
            group_prefix=f"t-{uuid.uuid4().hex[:8]}",
        )


@pytest.fixture
async def rig(kafka_bootstrap: str) -> AsyncIterator[Rig]:
    topic = f"test.stage-{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    names = [topic, topics.retry_topic(topic), topics.dlq_topic(topic)]
    await admin.create_topics([NewTopic(n, num_partitions=1, replication_factor=1) for n in names])
    broker = make_broker(KafkaSettings(bootstrap_servers=kafka_bootstrap), client_id="test-stage")
    await broker.connect()
    r = Rig(kafka_bootstrap, topic, broker)
    try:
        yield r
    finally:
        for consumer in r.consumers:
            await consumer.stop()
        await broker.stop()
        await admin.delete_topics(names)
        await admin.close()


async def _fail_with(exc: Exception) -> Any:
    async def handler(event: Ping, headers: dict[str, str]) -> None:
        raise exc

    return handler


async def test_a_transient_failure_goes_to_the_retry_topic_with_the_next_attempt(rig: Rig) -> None:
    stage = rig.stage(await _fail_with(TransientError("Aurora 503")), RetryPolicy(max_attempts=3, base_delay=5.0))
    before = time.time()
    await stage.process(Ping(n=1).to_bytes(), {"ce_id": "e1"}, key=b"k")
    [(headers, body, _)] = await rig.take(topics.retry_topic(rig.topic), 1)
    assert Ping.from_bytes(body).n == 1
    assert headers[ATTEMPT_HEADER] == "2"
    assert headers["x-original-topic"] == rig.topic
    assert "Aurora 503" in headers["x-error"]
    assert before <= float(headers[NOT_BEFORE_HEADER]) <= time.time() + 5.0
    assert await rig.take(topics.dlq_topic(rig.topic), 1, timeout=1.0) == []


async def test_the_last_attempt_and_a_permanent_failure_are_dead_lettered(rig: Rig) -> None:
    policy = RetryPolicy(max_attempts=3)
    await rig.stage(await _fail_with(TransientError("still down")), policy).process(
        Ping(n=1).to_bytes(), {"ce_id": "e1", ATTEMPT_HEADER: "3"}
    )
    await rig.stage(await _fail_with(PermanentError("bad data", code="bad_data")), policy).process(
        Ping(n=2).to_bytes(), {"ce_id": "e2"}
    )
    await rig.stage(await _fail_with(TransientError("never called")), policy).process(b"{not json", {"ce_id": "e3"})
    dead = await rig.take(topics.dlq_topic(rig.topic), 3)
    by_id = {h["ce_id"]: h for h, _, _ in dead}
    assert (by_id["e1"]["x-error-code"], by_id["e1"][ATTEMPT_HEADER]) == ("transient", "3")
    assert (by_id["e2"]["x-error-code"], by_id["e2"][ATTEMPT_HEADER]) == ("bad_data", "1")
    assert by_id["e3"]["x-error-code"] == "invalid_message"
    assert all(h["x-original-topic"] == rig.topic for h in by_id.values())
    assert await rig.take(topics.retry_topic(rig.topic), 1, timeout=1.0) == []


async def test_the_breaker_opens_after_consecutive_failures_only(rig: Rig) -> None:
    outcomes = iter([False, False, True, False, False, False])

    async def handler(event: Ping, headers: dict[str, str]) -> None:
        if not next(outcomes):
            raise TransientError("down")

    stage = rig.stage(handler, RetryPolicy(max_attempts=5, breaker_threshold=3))
    for n in range(5):
        await stage.process(Ping(n=n).to_bytes(), {"ce_id": f"e{n}"})
        # Two failures, a success (which resets the count), two failures: still consuming.
        assert stage.progress.live()[0], n
    await stage.process(Ping(n=5).to_bytes(), {"ce_id": "e5"})
    live, reason = stage.progress.live()
    assert not live
    assert "3 consecutive failures" in reason


async def test_the_relay_redelivers_when_due_and_never_before(rig: Rig) -> None:
    relay = RetryRelay(bootstrap_servers=rig.bootstrap, input_topic=rig.topic, group_id="t-relay", broker=rig.broker)
    relay.start()
    try:
        due = time.time() + 1.5
        retry = topics.retry_topic(rig.topic)
        await rig.broker.publish(
            Ping(n=1).to_bytes(), topic=retry, headers={"ce_id": "late", NOT_BEFORE_HEADER: f"{due:.3f}"}
        )
        await rig.broker.publish(Ping(n=2).to_bytes(), topic=retry, headers={"ce_id": "now", NOT_BEFORE_HEADER: "0"})
        back = await rig.take(rig.topic, 2)
    finally:
        await relay.stop()
    assert [h["ce_id"] for h, _, _ in back] == ["late", "now"]  # one partition: order is kept
    late_headers, _, seen_at = back[0]
    assert seen_at >= due
    assert NOT_BEFORE_HEADER not in late_headers


async def test_a_retried_message_comes_back_and_succeeds(rig: Rig) -> None:
    seen: list[str] = []
    done = asyncio.Event()

    async def handler(event: Ping, headers: dict[str, str]) -> None:
        seen.append(headers.get(ATTEMPT_HEADER, "1"))
        if len(seen) == 1:
            raise OSError("connection reset")
        done.set()

    stage = rig.stage(handler, RetryPolicy(max_attempts=3, base_delay=0.2))
    stage.register()
    relay = RetryRelay(
        bootstrap_servers=rig.bootstrap, input_topic=rig.topic, group_id=stage.group_id, broker=rig.broker
    )
    await rig.broker.start()
    relay.start()
    try:
        await rig.broker.publish(Ping(n=1).to_bytes(), topic=rig.topic, headers={"ce_id": "e1"})
        await asyncio.wait_for(done.wait(), timeout=30)
    finally:
        await relay.stop()
    assert seen == ["1", "2"]
    assert await rig.take(topics.dlq_topic(rig.topic), 1, timeout=1.0) == []


async def test_a_stage_runs_no_more_consumers_than_the_topic_has_partitions(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Workers beyond the partitions would join the group and never be given one.
    monkeypatch.setenv("KAFKA_TOPIC_PARTITIONS", "2")

    async def handler(event: Ping, headers: dict[str, str]) -> None:
        return None

    stage = rig.stage(handler, RetryPolicy())
    stage._max_workers = 5
    stage.register()
    await rig.broker.start()
    admin = AIOKafkaAdminClient(bootstrap_servers=rig.bootstrap)
    await admin.start()
    try:

        async def members() -> int:
            # DescribeGroups answers (error, group, state, protocol type, protocol, members) per group.
            [response] = await admin.describe_consumer_groups([stage.group_id])
            return len(response.groups[0][5])

        for _ in range(100):  # up to 30 s for the group to form
            if await members() >= 2:
                break
            await asyncio.sleep(0.3)
        await asyncio.sleep(1.0)  # a third member, if any, would have joined by now
        assert await members() == 2
    finally:
        await admin.close()
