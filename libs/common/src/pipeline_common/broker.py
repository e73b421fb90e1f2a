"""Kafka broker factory and the consumer policy every stage uses.

Producer: acks=all and the idempotent producer, so an acknowledged publish is durable and a retried send
is not duplicated by the broker. Consumers: an explicit group per stage, `earliest` so a new group misses
nothing, and offsets committed only after the handler returned (FastStream's NACK_ON_ERROR policy: the
handler itself routes failures to the retry and dead-letter topics, so an exception reaching FastStream
means the broker itself is unreachable and the message must be seen again, not skipped).
"""

from __future__ import annotations

import logging
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from pipeline_common.events import Contract, cloudevent_headers
from pipeline_common.settings import KafkaSettings


def make_broker(settings: KafkaSettings, *, client_id: str) -> KafkaBroker:
    return KafkaBroker(
        # A list: FastStream wraps a plain str as one host, so "k1:9092,k2:9092" would be a host named
        # "k1:9092,k2" (aiokafka's own clients split the string; FastStream's never reaches that code).
        settings.bootstrap_hosts,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.linger_ms,
        request_timeout_ms=settings.request_timeout_ms,
        # FastStream's own errors reach the log; its per-message lines (DEBUG here) do not.
        logger=logging.getLogger("faststream"),
        log_level=logging.DEBUG,
    )


def consumer_options(group_id: str) -> dict[str, Any]:
    return {
        "group_id": group_id,
        "auto_offset_reset": "earliest",
        "ack_policy": AckPolicy.NACK_ON_ERROR,
    }


async def publish_event(
    broker: KafkaBroker, event: Contract, *, event_id: str, source: str, key: bytes, subject: str
) -> None:
    """Publish and wait for the broker's acknowledgement (acks=all)."""
    await broker.publish(
        event.to_bytes(),
        topic=event.topic,
        key=key,
        headers=cloudevent_headers(event, event_id=event_id, source=source, subject=subject),
    )
