"""A 3-node Kafka cluster (deploy/local/kafka-cluster.sh) for the fault tests that lose a broker or run
several copies of a stage, and a view of consumer groups as the broker sees them.

The cluster is this project's own (three local JVMs on KAFKA_CLUSTER_PORT..+5, default 9192-9197): it is
started fresh for the session and deleted afterwards. When it cannot start the tests fail with the script's
output — they never skip.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from pydantic import SecretStr

from pipeline_common.database import create_pool
from pipeline_common.settings import DatabaseSettings, KafkaSettings
from pipeline_common.topic_provisioning import ensure_topics
from tests.fixtures.infra import ROOT

SCRIPT = ROOT / "deploy/local/kafka-cluster.sh"
NODES = 3
# What a production cluster uses (deploy/k8s strimzi component): any one broker may be lost.
CLUSTER_TOPICS = {"KAFKA_TOPIC_REPLICATION_FACTOR": "3", "KAFKA_TOPIC_MIN_INSYNC_REPLICAS": "2"}


def _script(*args: str, timeout: float = 300) -> str:
    result = subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, check=False, env=os.environ.copy()
    )
    if result.returncode != 0:
        pytest.fail(f"kafka-cluster.sh {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    return result.stdout.strip()


@dataclass(frozen=True)
class KafkaCluster:
    bootstrap: str

    def kill_node(self, node: int) -> None:
        """SIGKILL: no controlled shutdown, no leadership handed over first."""
        _script("kill-node", str(node))

    def start_node(self, node: int) -> None:
        _script("start-node", str(node))

    def settings(self) -> KafkaSettings:
        return KafkaSettings(
            bootstrap_servers=self.bootstrap,
            topic_replication_factor=int(CLUSTER_TOPICS["KAFKA_TOPIC_REPLICATION_FACTOR"]),
            topic_min_insync_replicas=int(CLUSTER_TOPICS["KAFKA_TOPIC_MIN_INSYNC_REPLICAS"]),
        )


@pytest.fixture(scope="session")
def kafka_cluster() -> Iterator[KafkaCluster]:
    # Fresh: a cluster left from an interrupted run may hold a node that was killed and never restarted.
    _script("delete-data")
    _script("start")
    cluster = KafkaCluster(_script("bootstrap"))
    try:
        try:
            asyncio.run(ensure_topics(cluster.settings()))
        except Exception as exc:
            pytest.fail(f"topics on the cluster at {cluster.bootstrap}: {exc!r}", pytrace=False)
        yield cluster
    finally:
        _script("delete-data")


async def topic_layout(bootstrap: str, topic: str) -> dict[int, dict[str, Any]]:
    """Per partition: leader, replicas and in-sync replicas, as the cluster's metadata tells them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return {
        p["partition"]: {"leader": p["leader"], "replicas": list(p["replicas"]), "isr": list(p["isr"])}
        for p in described["partitions"]
    }


@dataclass(frozen=True)
class GroupView:
    state: str
    # member id -> partitions of `topic` assigned to it
    members: dict[str, set[int]]


async def group_view(bootstrap: str, group: str, topic: str) -> GroupView:
    """The group's members and their assignments, decoded from the coordinator's DescribeGroups answer."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    described = response.to_object()["groups"][0]
    members: dict[str, set[int]] = {}
    for member in described["members"]:
        raw = member["member_assignment"]
        owned: set[int] = set()
        if raw:
            assignment = ConsumerProtocolMemberAssignment.decode(raw)
            for name, partitions in assignment.assignment:
                if name == topic:
                    owned |= set(partitions)
        members[member["member_id"]] = owned
    return GroupView(described["state"], members)


async def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


@pytest.fixture
async def pool_for() -> AsyncIterator[Any]:
    pools: list[asyncpg.Pool[Any]] = []

    async def _open(url: str) -> asyncpg.Pool[Any]:
        pool = await create_pool(DatabaseSettings(DATABASE_URL=SecretStr(url)))  # type: ignore[call-arg]
        pools.append(pool)
        return pool

    yield _open
    for pool in pools:
        await pool.close()


@dataclass
class Handover:
    """How long a group took to give a lost member's partitions to the others, from the loss."""

    reassigned_s: float | None = None  # the group is stable again with the survivors owning every partition
    consuming_s: float | None = None  # after that, a survivor committed past where the lost member stopped

    def describe(self) -> str:
        def seconds(value: float | None) -> str:
            return f"{value:.1f}s" if value is not None else "not seen"

        return (
            f"reassigned after {seconds(self.reassigned_s)}, "
            f"consuming moved partitions after {seconds(self.consuming_s)}"
        )


async def watch_handover(
    bootstrap: str,
    group: str,
    topic: str,
    *,
    moved: set[int],
    members_left: int,
    partitions: int,
    before: dict[int, int],
    since: float,
    within: float = 60.0,
) -> Handover:
    """Polls the group (4 times a second) after a member was lost at `since` (loop time). Measured for the
    report, never asserted: it is the session timeout plus a rebalance, and this machine is shared."""
    loop = asyncio.get_running_loop()
    found = Handover()
    while loop.time() - since < within and (found.reassigned_s is None or found.consuming_s is None):
        try:
            view = await group_view(bootstrap, group, topic)
            offsets = await committed(bootstrap, group, topic)
        except Exception:
            await asyncio.sleep(0.25)
            continue
        now = loop.time() - since
        owned = [p for parts in view.members.values() for p in parts]
        if (
            found.reassigned_s is None
            and view.state == "Stable"
            and len(view.members) == members_left
            and sorted(owned) == list(range(partitions))
        ):
            found.reassigned_s = now
        # Only a commit after the handover counts: until then the group still gives the moved partitions to
        # the lost member, so nobody else may be consuming them.
        if (
            found.reassigned_s is not None
            and found.consuming_s is None
            and any(offsets.get(p, -1) > before.get(p, -1) for p in moved)
        ):
            found.consuming_s = now
        await asyncio.sleep(0.25)
    return found
