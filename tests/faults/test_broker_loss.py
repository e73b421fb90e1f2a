"""A broker of a 3-node cluster is SIGKILLed while webhooks stream through the gateway, and nothing is lost.

Topics have replication factor 3 and min.insync.replicas 2, producers use acks=all with idempotence
(pipeline_common.broker, the gateway, the outbox): an acknowledged write is on two nodes, so losing any one
leaves a copy that becomes leader. The victim is the node leading the most `webhook.received` partitions,
so the gateway's own writes must move to new leaders. Every service is given the three brokers as one
comma-separated KAFKA_BOOTSTRAP_SERVERS. The node is started again at the end and must catch up.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from pipeline_common import topics
from tests.faults.accounting import run_scenario
from tests.faults.conftest import CLUSTER_TOPICS, KafkaCluster, topic_layout
from tests.fixtures.infra import Infra, fresh_database
from tests.fixtures.pipeline import Pipeline, run_pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def cluster_pipeline(kafka_cluster: KafkaCluster, infra: Infra) -> Iterator[tuple[Pipeline, str]]:
    with (
        fresh_database(infra, "pipeline_cluster") as url,
        run_pipeline(kafka_cluster.bootstrap, url, extra_env=CLUSTER_TOPICS) as pipeline,
    ):
        yield pipeline, url


async def wait_in_sync(bootstrap: str, node: int, *, within: float = 90.0) -> float:
    """Seconds until `node` is back in the in-sync replicas of every partition of the pipeline's topics."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    behind: list[str] = []
    while loop.time() - started < within:
        behind = []
        for topic in topics.every_topic():
            layout = await topic_layout(bootstrap, topic)
            behind += [f"{topic}/{p}" for p, part in layout.items() if node not in part["isr"]]
        if not behind:
            return loop.time() - started
        await asyncio.sleep(0.5)
    raise AssertionError(f"node {node} not back in sync after {within:.0f}s: {behind[:5]}")


async def test_a_broker_sigkilled_mid_stream_loses_and_doubles_nothing(
    cluster_pipeline: tuple[Pipeline, str], kafka_cluster: KafkaCluster, pool_for: Any
) -> None:
    pipeline, url = cluster_pipeline
    db = await pool_for(url)
    bootstrap = kafka_cluster.bootstrap
    layout = await topic_layout(bootstrap, topics.WEBHOOK_RECEIVED)
    assert all(len(p["replicas"]) == 3 and len(p["isr"]) == 3 for p in layout.values()), layout
    victim = Counter(p["leader"] for p in layout.values()).most_common(1)[0][0]
    while_down: dict[int, dict[str, Any]] = {}

    async def kill_broker() -> None:
        await asyncio.to_thread(kafka_cluster.kill_node, victim)

    ledger = await run_scenario("kill-broker", pipeline, db, bootstrap, kill_broker, projects=4)
    assert ledger.dead_lettered == 0
    # The stream went on with the victim down: every partition has a leader among the two left.
    while_down.update(await topic_layout(bootstrap, topics.WEBHOOK_RECEIVED))
    assert all(p["leader"] not in (victim, -1) for p in while_down.values()), while_down

    loop = asyncio.get_running_loop()
    restarting = loop.time()
    await asyncio.to_thread(kafka_cluster.start_node, victim)
    serving = loop.time() - restarting
    caught_up = serving + await wait_in_sync(bootstrap, victim)
    print(
        f"\n[kill-broker] node {victim} killed; restarted: answering after {serving:.1f}s, "
        f"in sync on every partition after {caught_up:.1f}s"
    )
