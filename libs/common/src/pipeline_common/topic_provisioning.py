"""Every topic the pipeline uses, created explicitly from configuration (`pipeline-topics`).

Brokers here run with topic auto-creation off: an auto-created topic gets the broker's defaults (one
partition on many brokers), so a second copy of a stage would sit idle and nobody would notice. This step
is idempotent: it creates what is missing, grows partitions when the configuration asks for more (Kafka
cannot shrink them), and sets each topic's configs. `make infra`, the test fixtures and the Kubernetes Job
all run it; `--check` only verifies, for deployments where something else (Strimzi) owns the topics.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import typer
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from pipeline_common import topics
from pipeline_common.settings import KafkaSettings

_TOPIC_ALREADY_EXISTS = 36


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str] = field(default_factory=dict)


def topic_specs(settings: KafkaSettings) -> list[TopicSpec]:
    """The topics of `topics.every_topic()`, each with its retry and dead-letter topics, as configured."""
    dead_letters = {topics.dlq_topic(t) for t in topics.CONSUMED}

    def configs(name: str) -> dict[str, str]:
        hours = settings.dlq_retention_hours if name in dead_letters else settings.topic_retention_hours
        return {
            "min.insync.replicas": str(settings.topic_min_insync_replicas),
            "retention.ms": str(int(hours * 3_600_000)),
            "cleanup.policy": "delete",
        }

    return [
        TopicSpec(name, settings.topic_partitions, settings.topic_replication_factor, configs(name))
        for name in topics.every_topic()
    ]


@dataclass(frozen=True)
class TopicState:
    partitions: int
    leaders_elected: bool


async def describe(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, TopicState]:
    """The state of the named topics that exist. Listing first: a metadata request naming a missing topic
    would create it on a broker that still auto-creates."""
    existing = set(await admin.list_topics())
    present = [n for n in names if n in existing]
    if not present:
        return {}
    described = await admin.describe_topics(present)
    return {
        d["topic"]: TopicState(len(d["partitions"]), all(p["leader"] >= 0 for p in d["partitions"]))
        for d in described
        if not d["error_code"]
    }


def shortfalls(specs: list[TopicSpec], state: dict[str, TopicState]) -> list[str]:
    """What is wrong with the topics, one readable line each; empty when every topic is as configured."""
    problems = []
    for spec in specs:
        found = state.get(spec.name)
        if found is None:
            problems.append(f"{spec.name}: missing")
        elif found.partitions < spec.partitions:
            problems.append(f"{spec.name}: {found.partitions} partition(s), configured {spec.partitions}")
        elif not found.leaders_elected:
            problems.append(f"{spec.name}: a partition has no leader yet")
    return problems


async def ensure_topics(settings: KafkaSettings, *, wait_seconds: float = 30.0) -> list[str]:
    """Create, grow and configure every topic; returns what it changed. Raises when the cluster refuses."""
    specs = topic_specs(settings)
    changes: list[str] = []
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_hosts, request_timeout_ms=settings.request_timeout_ms
    )
    await admin.start()
    try:
        state = await describe(admin, [s.name for s in specs])
        missing = [s for s in specs if s.name not in state]
        if missing:
            response = await admin.create_topics(
                [NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.configs) for s in missing]
            )
            for name, code, message in response.topic_errors:
                # Another copy of this step (two Jobs, a concurrent `make infra`) created it first: fine.
                if code and code != _TOPIC_ALREADY_EXISTS:
                    raise RuntimeError(f"could not create topic {name}: error {code} {message or ''}".strip())
            changes += [
                f"created {s.name} ({s.partitions} partitions, replication {s.replication_factor})" for s in missing
            ]
        grow = {s.name: s.partitions for s in specs if s.name in state and state[s.name].partitions < s.partitions}
        if grow:
            await admin.create_partitions({name: NewPartitions(total) for name, total in grow.items()})
            changes += [f"grew {name} to {total} partitions" for name, total in grow.items()]
        existing = [s for s in specs if s.name in state]
        if existing:
            # Configs of topics made before a setting changed (retention, min.insync.replicas) follow it.
            await admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, s.name, configs=s.configs) for s in existing]
            )
        # A producer that arrives before every partition has a leader gets NotLeaderForPartition retries.
        deadline = time.monotonic() + wait_seconds
        while problems := shortfalls(specs, await describe(admin, [s.name for s in specs])):
            if time.monotonic() > deadline:
                raise RuntimeError("topics not ready: " + "; ".join(problems))
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    return changes


async def check_topics(settings: KafkaSettings) -> list[str]:
    """What is missing or short, without changing anything."""
    specs = topic_specs(settings)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_hosts, request_timeout_ms=settings.request_timeout_ms
    )
    await admin.start()
    try:
        return shortfalls(specs, await describe(admin, [s.name for s in specs]))
    finally:
        await admin.close()


app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def run(
    check: bool = typer.Option(False, "--check", help="Only verify that every topic exists as configured."),
) -> None:
    """Create every topic (with its retry and dead-letter topics) as KAFKA_TOPIC_* configures them."""
    settings = KafkaSettings()
    try:
        if check:
            problems = asyncio.run(check_topics(settings))
        else:
            changes = asyncio.run(ensure_topics(settings))
    except Exception as exc:  # aiokafka's errors (unreachable cluster, refused request) share no base class
        typer.echo(f"topics at {settings.bootstrap_servers}: {exc}", err=True)
        raise typer.Exit(1) from exc
    total = len(topic_specs(settings))
    if check:
        for line in problems:
            typer.echo(line, err=True)
        if problems:
            raise typer.Exit(1)
        typer.echo(f"{total} topics as configured")
        return
    for line in changes:
        typer.echo(line)
    typer.echo(f"{total} topics as configured ({len(changes)} change(s))")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
