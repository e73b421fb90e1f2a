"""Topic names: the one source of truth for every producer, consumer, test and the AsyncAPI document."""

from __future__ import annotations

import os
from typing import Final

# Empty in production. A test session sets KAFKA_TOPIC_PREFIX (read once, at import, by every process it
# starts) so that pipelines sharing one broker never read each other's messages.
PREFIX: Final = os.environ.get("KAFKA_TOPIC_PREFIX", "")

WEBHOOK_RECEIVED: Final = f"{PREFIX}aurora.webhook.received"
IMPORT_REQUESTED: Final = f"{PREFIX}aurora.import.requested"
PROJECT_FETCHED: Final = f"{PREFIX}aurora.project.fetched"
PROJECT_IMPORTED: Final = f"{PREFIX}project.imported"

CONSUMED: Final = (WEBHOOK_RECEIVED, IMPORT_REQUESTED, PROJECT_FETCHED)
ALL: Final = (WEBHOOK_RECEIVED, IMPORT_REQUESTED, PROJECT_FETCHED, PROJECT_IMPORTED)


def retry_topic(topic: str) -> str:
    return f"{topic}.retry"


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


def every_topic() -> tuple[str, ...]:
    derived = tuple(t for base in CONSUMED for t in (retry_topic(base), dlq_topic(base)))
    return ALL + derived


def message_key(integration_id: str, aurora_project_id: str) -> bytes:
    """All events of one Aurora project share a partition, so they are processed in order."""
    return f"{integration_id}:{aurora_project_id}".encode()
