"""The consuming side of every stage: decode, handle, and route failures — built once, used by each stage.

For each message on the stage's input topic:
- the body is validated against the input contract; an undecodable message goes straight to `<topic>.dlq`
  (a poison message must not block its partition);
- the handler runs; transient failures go to `<topic>.retry` with the attempt count and a not-before time
  (pipeline_common.retry.RetryPolicy), and after `max_attempts` to `<topic>.dlq` with the error, the stage,
  the attempts and the original message intact; permanent failures go to the DLQ at once;
- the offset is committed only after the handler, or the retry/DLQ publish, completed (FastStream commits
  after the handler returns). If even that publish fails, the exception reaches FastStream, which seeks back:
  the broker is down and the message must be seen again, not skipped.
- When most recent messages failed (`breaker_threshold` in a row), the stage stops consuming and reports
  not-live instead of draining the topic into the DLQ: a bad deploy is stopped, not amplified.

Retried messages are redelivered by `RetryRelay`, which reads `<topic>.retry`, waits for each message's
not-before time by pausing the partition (never by sleeping inside a handler), and republishes to `<topic>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import orjson
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import ValidationError

from pipeline_common import topics
from pipeline_common.broker import consumer_options
from pipeline_common.errors import StageError
from pipeline_common.events import CURRENT_TRACEPARENT, Contract, trace_id_of
from pipeline_common.health import Progress
from pipeline_common.logs import get_logger
from pipeline_common.metrics import CONSUMER_LAG, DEAD_LETTERS, EVENTS_FAILED, EVENTS_IN, RETRIES, STAGE_SECONDS
from pipeline_common.retry import RetryPolicy, StageRetrySettings
from pipeline_common.settings import KafkaSettings

log = get_logger(__name__)

In = TypeVar("In", bound=Contract)

ATTEMPT_HEADER = "x-attempt"
NOT_BEFORE_HEADER = "x-not-before"
# Set by `pipeline-ops dlq replay` on a dead letter it sends back: a stage that keeps its own record of failed
# work (the fetcher's queue) runs it again instead of taking it for a redelivery.
REPLAYED_HEADER = "x-replayed-at"


Handler = Callable[[In, dict[str, str]], Awaitable[None]]


async def _raw_body(msg: Any) -> bytes:
    body: bytes = msg.body
    return body


class Stage(Generic[In]):
    def __init__(
        self,
        *,
        name: str,
        broker: KafkaBroker,
        input_topic: str,
        contract: type[In],
        handler: Handler[In],
        policy: RetryPolicy | None = None,
        max_workers: int = 1,
        group_prefix: str | None = None,
    ) -> None:
        self.name = name
        self.broker = broker
        self.input_topic = input_topic
        self.contract = contract
        self.handler = handler
        self.policy = policy or StageRetrySettings().policy()
        self.progress = Progress(stage=name)
        self._consecutive_failures = 0
        self._subscriber: Any = None
        self._stopping: asyncio.Task[None] | None = None
        self._max_workers = max_workers
        self._lag_series: set[tuple[str, str]] = set()
        self._group_prefix = group_prefix or KafkaSettings().group_prefix

    @property
    def group_id(self) -> str:
        return f"{self._group_prefix}.{self.name}"

    def register(self) -> None:
        options = consumer_options(self.group_id)
        # Each worker is a consumer of its own in the group (FastStream's between-partitions concurrency, the
        # one that commits after the handler): beyond the topic's partitions a worker never gets one, and only
        # makes every rebalance heavier and can leave a whole copy of the stage idle.
        workers = min(self._max_workers, KafkaSettings().topic_partitions)
        if workers < self._max_workers:
            log.info("stage_workers_capped", asked=self._max_workers, workers=workers, reason="topic partitions")
        if workers > 1:
            options["max_workers"] = workers

        # The body is re-read from the raw bytes: FastStream's own JSON decoding would happen before the stage
        # can route an undecodable message to the DLQ.
        async def on_message(body: Any, msg: KafkaMessage) -> None:
            await self.process(msg.body, dict(msg.headers), key=getattr(msg.raw_message, "key", None))

        self._subscriber = self.broker.subscriber(self.input_topic, decoder=_raw_body, **options)
        self._subscriber(on_message)

    async def process(self, raw: bytes, headers: dict[str, str], key: bytes | None = None) -> None:
        EVENTS_IN.labels(self.name).inc()
        self.progress.started()
        started = time.perf_counter()
        attempt = int(headers.get(ATTEMPT_HEADER, "1") or 1)
        event_id = headers.get("ce_id", "")
        traceparent = headers.get("traceparent")
        trace_token = CURRENT_TRACEPARENT.set(traceparent)
        structlog.contextvars.bind_contextvars(event_id=event_id, stage=self.name, trace_id=trace_id_of(traceparent))
        try:
            try:
                event = self.contract.from_bytes(raw)
            except (ValidationError, orjson.JSONDecodeError, UnicodeDecodeError) as exc:
                await self._dead_letter(raw, headers, key, attempt, "invalid_message", f"undecodable message: {exc}")
                return
            try:
                await self.handler(event, headers)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._on_failure(raw, headers, key, attempt, exc)
                return
            self._consecutive_failures = 0
        finally:
            STAGE_SECONDS.labels(self.name).observe(time.perf_counter() - started)
            self.progress.finished()
            CURRENT_TRACEPARENT.reset(trace_token)
            structlog.contextvars.unbind_contextvars("event_id", "stage", "trace_id")

    async def _on_failure(
        self, raw: bytes, headers: dict[str, str], key: bytes | None, attempt: int, exc: Exception
    ) -> None:
        code = exc.code if isinstance(exc, StageError) else type(exc).__name__
        EVENTS_FAILED.labels(self.name, code).inc()
        self._consecutive_failures += 1
        if self.policy.retries(exc, attempt):
            delay = self.policy.delay(attempt)
            log.warning("retry_scheduled", error=str(exc), code=code, attempt=attempt, delay_s=round(delay, 3))
            retry_headers = {
                **headers,
                ATTEMPT_HEADER: str(attempt + 1),
                NOT_BEFORE_HEADER: f"{time.time() + delay:.3f}",
                "x-error": str(exc)[:500],
                "x-original-topic": self.input_topic,
            }
            await self.broker.publish(raw, topic=topics.retry_topic(self.input_topic), key=key, headers=retry_headers)
            RETRIES.labels(self.name).inc()
        else:
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            await self._dead_letter(raw, headers, key, attempt, code, detail)
        if self._consecutive_failures >= self.policy.breaker_threshold:
            await self.trip_breaker()

    async def _dead_letter(
        self, raw: bytes, headers: dict[str, str], key: bytes | None, attempt: int, code: str, error: str
    ) -> None:
        dlq_headers = {
            **{k: v for k, v in headers.items() if k not in (NOT_BEFORE_HEADER,)},
            "x-error": error[:2000],
            "x-error-code": code,
            "x-stage": self.name,
            ATTEMPT_HEADER: str(attempt),
            "x-failed-at": f"{time.time():.3f}",
            "x-original-topic": self.input_topic,
        }
        await self.broker.publish(raw, topic=topics.dlq_topic(self.input_topic), key=key, headers=dlq_headers)
        DEAD_LETTERS.labels(self.name).inc()
        log.error("dead_lettered", code=code, error=error[:500], attempt=attempt)

    async def record_lag(self) -> None:
        """Consumer lag per assigned partition (partition end minus this consumer's position)."""
        # A concurrent-between-partitions subscriber runs one consumer per worker (`consumer_subgroup`).
        consumers = getattr(self._subscriber, "consumer_subgroup", None) or [
            getattr(self._subscriber, "consumer", None)
        ]
        sampled: set[tuple[str, str]] = set()
        for consumer in consumers:
            if consumer is not None:
                sampled |= await self._record_lag_of(consumer)
        # A partition a rebalance moved to another copy is no longer this process's: its series goes, so the
        # copies' /metrics together show each partition once (tests/faults/test_replicas.py relies on it).
        for topic, partition in self._lag_series - sampled:
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(self.name, topic, partition)
        self._lag_series = sampled

    async def _record_lag_of(self, consumer: Any) -> set[tuple[str, str]]:
        sampled: set[tuple[str, str]] = set()
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            try:
                position = await asyncio.wait_for(consumer.position(tp), timeout=1.0)
            except Exception:  # noqa: S112 - a rebalance moved the partition away meanwhile
                continue
            CONSUMER_LAG.labels(self.name, tp.topic, str(tp.partition)).set(max(0, highwater - position))
            sampled.add((tp.topic, str(tp.partition)))
        return sampled

    async def trip_breaker(self) -> None:
        reason = (
            f"stopped consuming after {self._consecutive_failures} consecutive failures; "
            "fix the cause and restart the stage"
        )
        self.progress.stopped_reason = reason
        log.critical("circuit_breaker_open", reason=reason)
        if self._subscriber is not None:
            # Stopped from a separate task: stopping the subscriber from inside its own handler cancels it.
            self._stopping = asyncio.get_running_loop().create_task(self._subscriber.stop())


class RetryRelay:
    """Moves due messages from `<topic>.retry` back to `<topic>`, pausing partitions while they wait."""

    def __init__(
        self, *, bootstrap_servers: str | list[str], input_topic: str, group_id: str, broker: KafkaBroker
    ) -> None:
        self.retry_topic = topics.retry_topic(input_topic)
        self.input_topic = input_topic
        self.group_id = f"{group_id}.retry"
        self.bootstrap_servers = bootstrap_servers
        self.broker = broker
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        consumer = AIOKafkaConsumer(
            self.retry_topic,
            bootstrap_servers=self.bootstrap_servers,
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        resume_at: dict[TopicPartition, float] = {}
        try:
            while True:
                now = time.time()
                for tp, at in list(resume_at.items()):
                    if at <= now:
                        consumer.resume(tp)
                        del resume_at[tp]
                batch = await consumer.getmany(timeout_ms=200, max_records=100)
                for tp, records in batch.items():
                    for record in records:
                        headers = {k: v.decode() for k, v in record.headers}
                        not_before = float(headers.get(NOT_BEFORE_HEADER, "0") or 0)
                        if not_before > time.time():
                            # Not due: rewind to it and pause this partition until it is.
                            consumer.seek(tp, record.offset)
                            consumer.pause(tp)
                            resume_at[tp] = not_before
                            break
                        out_headers = {k: v for k, v in headers.items() if k != NOT_BEFORE_HEADER}
                        await self.broker.publish(
                            record.value, topic=self.input_topic, key=record.key, headers=out_headers
                        )
                        await consumer.commit({tp: record.offset + 1})
        finally:
            await consumer.stop()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
