"""`pipeline-topics` against the real broker: every topic, retry and DLQ included, exists with its
configured partitions and configs; a second run changes nothing; more partitions in the configuration
grow the topics; `--check` names what is missing or short."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from pipeline_common import topics

ROOT = Path(__file__).resolve().parents[2]
BASES = [t.removeprefix(topics.PREFIX) for t in topics.every_topic()]


def pipeline_topics(kafka: str, prefix: str, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka, "KAFKA_TOPIC_PREFIX": prefix, **settings}
    return subprocess.run(
        [str(ROOT / ".venv/bin/pipeline-topics"), *args], env=env, capture_output=True, text=True, timeout=120
    )


async def describe(kafka: str, names: list[str]) -> dict[str, tuple[int, dict[str, str]]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        present = [n for n in names if n in existing]
        partitions = {d["topic"]: len(d["partitions"]) for d in await admin.describe_topics(present)} if present else {}
        configs: dict[str, dict[str, str]] = {}
        if present:
            for response in await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, n) for n in present]
            ):
                for _, _, _, name, entries in response.resources:
                    configs[name] = {e[0]: e[1] for e in entries}
        return {n: (partitions[n], configs.get(n, {})) for n in present}
    finally:
        await admin.close()


@pytest.fixture
def prefix(kafka_bootstrap: str) -> Iterator[str]:
    own = f"topics-{uuid.uuid4().hex[:8]}."
    yield own

    async def delete() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([own + b for b in BASES if own + b in set(await admin.list_topics())])
        finally:
            await admin.close()

    asyncio.run(delete())


def test_every_topic_is_created_as_configured_then_grown_and_never_changed_twice(
    kafka_bootstrap: str, prefix: str
) -> None:
    names = [prefix + b for b in BASES]
    missing = pipeline_topics(kafka_bootstrap, prefix, "--check")
    assert missing.returncode == 1
    assert sorted(line.split(":")[0] for line in missing.stderr.splitlines()) == sorted(names)

    first = pipeline_topics(kafka_bootstrap, prefix, KAFKA_TOPIC_PARTITIONS="3")
    assert first.returncode == 0, first.stderr
    state = asyncio.run(describe(kafka_bootstrap, names))
    assert set(state) == set(names)
    for name, (partitions, configs) in state.items():
        assert partitions == 3, name
        assert configs["min.insync.replicas"] == "1", name
        hours = 720 if name.endswith(".dlq") else 168
        assert configs["retention.ms"] == str(hours * 3_600_000), name

    again = pipeline_topics(kafka_bootstrap, prefix, KAFKA_TOPIC_PARTITIONS="3")
    assert again.returncode == 0, again.stderr
    assert "(0 change(s))" in again.stdout, again.stdout

    short = pipeline_topics(kafka_bootstrap, prefix, "--check", KAFKA_TOPIC_PARTITIONS="5")
    assert short.returncode == 1
    assert "3 partition(s), configured 5" in short.stderr

    grown = pipeline_topics(kafka_bootstrap, prefix, KAFKA_TOPIC_PARTITIONS="5", KAFKA_DLQ_RETENTION_HOURS="48")
    assert grown.returncode == 0, grown.stderr
    state = asyncio.run(describe(kafka_bootstrap, names))
    assert {name: p for name, (p, _) in state.items()} == dict.fromkeys(names, 5)
    assert state[prefix + topics.dlq_topic(BASES[0])][1]["retention.ms"] == str(48 * 3_600_000)
    assert pipeline_topics(kafka_bootstrap, prefix, "--check", KAFKA_TOPIC_PARTITIONS="5").returncode == 0


def test_the_sessions_topics_exist_as_configured_before_any_service_starts(kafka_bootstrap: str) -> None:
    # The fixture that hands out the broker ran the same step the deployment runs; nothing was auto-created.
    check = pipeline_topics(kafka_bootstrap, topics.PREFIX, "--check")
    assert check.returncode == 0, check.stderr
