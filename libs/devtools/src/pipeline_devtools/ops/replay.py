"""What became of a replayed dead letter: the stages' derived events, dead letters and integration-log entries.

A replay is only a publish; whether the stage re-ran the work shows downstream. Each stage derives its
output's id from its input's (`derive_event_id`), so from a replayed message's id the ids it should produce
on every later topic are known in advance. `follow` watches those topics (from their ends before the replay),
the dead-letter topics and the integration log for them, within a bounded wait.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer

from pipeline_common import topics
from pipeline_common.events import derive_event_id
from pipeline_devtools.ops.kafka_view import partitions_of, topic_offsets

# Input topic → (the topic its stage publishes to, the suffix that stage derives its event id with).
NEXT_STEP: dict[str, tuple[str, str]] = {
    topics.WEBHOOK_RECEIVED: (topics.IMPORT_REQUESTED, "import"),
    topics.IMPORT_REQUESTED: (topics.PROJECT_FETCHED, "fetch"),
    topics.PROJECT_FETCHED: (topics.PROJECT_IMPORTED, "import"),
}

# Integration-log entries after which no further event is coming for this message.
FINAL_LOG_KINDS = frozenset({"parked", "skipped", "coalesced", "fetch_error"})


def derived_chain(topic: str, event_id: str) -> list[tuple[str, str]]:
    """(topic, event id) of the message and of what each later stage publishes for it."""
    chain = [(topic, event_id)]
    while chain[-1][0] in NEXT_STEP:
        next_topic, suffix = NEXT_STEP[chain[-1][0]]
        chain.append((next_topic, derive_event_id(chain[-1][1], suffix)))
    return chain


class Verdict(StrEnum):
    IMPORTED = "imported"
    STOPPED = "stopped"  # a stage decided (skipped, parked, merged, ...): the log says why
    FAILED_AGAIN = "failed again"
    NO_OUTCOME = "no outcome"


@dataclass
class Followed:
    """One replayed message and what the pipeline did with it."""

    position: str  # p<partition>@<offset> in the dead-letter topic
    topic: str  # where it was sent back to
    event_id: str
    chain: list[tuple[str, str]] = field(default_factory=list)
    reached: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    error: str | None = None
    verdict: Verdict = Verdict.NO_OUTCOME
    resolved: bool = False

    def __post_init__(self) -> None:
        self.chain = derived_chain(self.topic, self.event_id)

    @property
    def ids(self) -> dict[str, str]:
        return {event_id: topic for topic, event_id in self.chain}

    def summary(self) -> str:
        where = f" → {self.reached[-1]}" if self.reached else ""
        if self.verdict is Verdict.IMPORTED:
            return f"re-ran and imported{where}"
        if self.verdict is Verdict.FAILED_AGAIN:
            return f"re-ran and failed again{where}: {self.error}"
        if self.verdict is Verdict.STOPPED:
            return f"re-ran{where}; stopped: {self.log[-1] if self.log else ''}"
        if self.reached or self.log:
            return f"re-ran{where}, no final outcome within the wait (check `pipeline-ops find {self.event_id}`)"
        return (
            "no sign that the stage re-ran it within the wait: it may have taken it for a duplicate, or be "
            f"behind (check `pipeline-ops find {self.event_id}`)"
        )


@dataclass(frozen=True)
class Mark:
    """Where the watched topics and the integration log ended before the replay."""

    offsets: dict[Any, int]
    log_id: int | None


def watched_topics() -> list[str]:
    return [*topics.ALL, *(topics.dlq_topic(t) for t in topics.CONSUMED)]


async def mark(bootstrap: str, conn: asyncpg.Connection[Any] | None) -> Mark:
    offsets = await topic_offsets(bootstrap, watched_topics())
    log_id = None
    if conn is not None:
        log_id = int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM integration_log"))
    return Mark(offsets, log_id)


def _on_record(item: Followed, topic: str, partition: int, offset: int, headers: dict[str, str]) -> None:
    ce_id = headers.get("ce_id", "")
    if ce_id not in item.ids:
        return
    if topic.endswith(".dlq"):
        item.error = f"{headers.get('x-stage', '?')}: {headers.get('x-error-code', '')} {headers.get('x-error', '')}"
        item.error = item.error.strip()[:300]
        item.verdict, item.resolved = Verdict.FAILED_AGAIN, True
        return
    if (topic, ce_id) == item.chain[0]:
        return  # the replayed message itself
    item.reached.append(f"{topic} p{partition}@{offset} (event {ce_id})")
    if topic == topics.PROJECT_IMPORTED:
        item.verdict, item.resolved = Verdict.IMPORTED, True


def _on_log(item: Followed, row: asyncpg.Record) -> None:
    action = f" {row['action']}" if row["action"] else ""
    item.log.append(f"integration log: {row['kind']}{action}: {row['message']}")
    if item.resolved:
        return
    kind, what = row["kind"], row["action"]
    # The importer's entry is its outcome; a created/updated import is still followed to project.imported.
    final = (
        kind in FINAL_LOG_KINDS
        or (kind == "import" and what not in ("created", "updated"))
        or (kind == "webhook" and what == "skipped")
    )
    if final:
        item.verdict, item.resolved = Verdict.STOPPED, True


async def follow(
    bootstrap: str,
    conn: asyncpg.Connection[Any] | None,
    since: Mark,
    items: list[Followed],
    *,
    wait_seconds: float,
) -> None:
    """Watches until every item is resolved or `wait_seconds` passed; fills in each item's outcome."""
    partitions = await partitions_of(bootstrap, watched_topics())
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    seen_log: set[int] = set()
    try:
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, since.offsets.get(tp, 0))
        deadline = time.monotonic() + wait_seconds
        while not all(i.resolved for i in items) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300, max_records=500)
            for records in batch.values():
                for r in records:
                    headers = {k: v.decode(errors="replace") for k, v in r.headers}
                    for item in items:
                        _on_record(item, r.topic, r.partition, r.offset, headers)
            if conn is not None and since.log_id is not None:
                # Entries commit out of id order (several writers), so everything after the mark is read again.
                rows = await conn.fetch(
                    "SELECT id, event_id, kind, action, message FROM integration_log "
                    "WHERE id > $1 AND event_id = ANY($2::text[]) AND NOT id = ANY($3::bigint[]) ORDER BY id",
                    since.log_id,
                    [e for i in items for e in i.ids],
                    list(seen_log),
                )
                for row in rows:
                    seen_log.add(row["id"])
                    for item in items:
                        if row["event_id"] in item.ids:
                            _on_log(item, row)
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
