"""Two copies of every consuming stage share the work, and losing or freezing one copy loses nothing.

The pipeline runs on the 3-node cluster with 2 copies each of trigger_filter, fetcher and importer
(DevStack `replicas`, as `make run RUN_ARGS="--replicas …"` does). Ownership is read two ways: the consumer
group as the coordinator describes it (each partition assigned to exactly one member) and each copy's own
/metrics (`pipeline_consumer_lag` has a series per partition that copy consumes). Then:
- one trigger_filter copy is SIGKILLed mid-stream: its partitions move to the other copy;
- one importer copy is SIGSTOPped past the session timeout, then resumed: the group moved its partitions
  meanwhile, so its late commits are refused and whatever it redoes must not double an import.
Both are counted by the fault suite's ledger (tests/faults/accounting.py). The rebalance pause is measured
from the consumer group and printed, never asserted.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pipeline_common import topics
from pipeline_common.settings import KafkaSettings
from pipeline_devtools.devstack import RunningService
from tests.faults.accounting import run_scenario
from tests.faults.conftest import CLUSTER_TOPICS, KafkaCluster, committed, group_view, watch_handover
from tests.fixtures.infra import Infra, fresh_database
from tests.fixtures.pipeline import Pipeline, run_pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

REPLICAS = {"trigger_filter": 2, "fetcher": 2, "importer": 2}
# The fetcher and importer run one group member per worker (FastStream's concurrent-between-partitions
# subscriber): with 2 copies x 3 workers = 6 members for 6 partitions, every member owns exactly one. With
# their defaults (64 and 6 workers) the members outnumber the partitions and a copy may own none.
WORKERS = {"FETCHER_CONSUMER_WORKERS": "3", "IMPORTER_WORKERS": "3"}
MEMBERS_PER_COPY = {"trigger_filter": 1, "fetcher": 3, "importer": 3}
INPUT = {
    "trigger_filter": topics.WEBHOOK_RECEIVED,
    "fetcher": topics.IMPORT_REQUESTED,
    "importer": topics.PROJECT_FETCHED,
}
PARTITIONS = KafkaSettings().topic_partitions
# aiokafka's default session.timeout.ms: a frozen member is evicted after this.
SESSION_TIMEOUT_S = 10.0


@pytest.fixture(scope="module")
def replicated(kafka_cluster: KafkaCluster, infra: Infra) -> Iterator[tuple[Pipeline, str]]:
    with (
        fresh_database(infra, "pipeline_replicas") as url,
        run_pipeline(kafka_cluster.bootstrap, url, replicas=REPLICAS, extra_env={**CLUSTER_TOPICS, **WORKERS}) as p,
    ):
        yield p, url


def group_of(pipeline: Pipeline, stage: str) -> str:
    return f"{pipeline.env['KAFKA_GROUP_PREFIX']}.{stage}"


async def partitions_in_metrics(copy: RunningService, stage: str) -> set[int]:
    """The partitions of the stage's input topic this copy reports consuming on /metrics."""
    async with httpx.AsyncClient(timeout=3) as client:
        text = (await client.get(copy.base_url + "/metrics")).text
    return {
        int(sample.labels["partition"])
        for family in text_string_to_metric_families(text)
        if family.name == "pipeline_consumer_lag"
        for sample in family.samples
        if sample.labels.get("stage") == stage and sample.labels.get("topic") == INPUT[stage]
    }


async def wait_for_split(
    pipeline: Pipeline, bootstrap: str, stage: str, *, within: float = 60.0
) -> dict[str, set[int]]:
    """Waits until every running copy owns partitions and each partition has exactly one owner, both in
    the group's assignment and in the copies' metrics; returns partitions per copy."""
    loop = asyncio.get_running_loop()
    copies = pipeline.stack.copies(stage)
    deadline = loop.time() + within
    last: Any = None
    while loop.time() < deadline:
        view = await group_view(bootstrap, group_of(pipeline, stage), INPUT[stage])
        by_copy = {c.name: await partitions_in_metrics(c, stage) for c in copies}
        assigned = sorted(p for parts in view.members.values() for p in parts)
        reported = sorted(p for parts in by_copy.values() for p in parts)
        last = (view, by_copy)
        if (
            view.state == "Stable"
            and len(view.members) == MEMBERS_PER_COPY[stage] * len(copies)
            and assigned == list(range(PARTITIONS))
            and reported == list(range(PARTITIONS))
            and all(by_copy.values())
        ):
            return by_copy
        await asyncio.sleep(1)
    raise AssertionError(f"{stage}: partitions not split one owner each between {len(copies)} copies: {last}")


async def test_each_copy_owns_partitions_and_a_sigkilled_copy_hands_them_over(
    replicated: tuple[Pipeline, str], kafka_cluster: KafkaCluster, pool_for: Any
) -> None:
    pipeline, url = replicated
    bootstrap = kafka_cluster.bootstrap
    for stage in REPLICAS:
        split = await wait_for_split(pipeline, bootstrap, stage)
        print(f"\n[replicas] {stage}: " + ", ".join(f"{name} owns {sorted(p)}" for name, p in split.items()))
    stage, victim = "trigger_filter", "trigger_filter-2"
    moved = (await wait_for_split(pipeline, bootstrap, stage))[victim]
    group = group_of(pipeline, stage)
    watching: list[asyncio.Task[Any]] = []

    async def kill_copy() -> None:
        since = asyncio.get_running_loop().time()
        await asyncio.to_thread(pipeline.stack.stop, victim, kill=True)
        # Read after the kill: a commit past this is the survivor's.
        before = await committed(bootstrap, group, INPUT[stage])
        watching.append(
            asyncio.create_task(
                watch_handover(
                    bootstrap,
                    group,
                    INPUT[stage],
                    moved=moved,
                    members_left=1,
                    partitions=PARTITIONS,
                    before=before,
                    since=since,
                )
            )
        )

    ledger = await run_scenario(
        "replicas-kill-trigger_filter", pipeline, await pool_for(url), bootstrap, kill_copy, projects=4
    )
    assert ledger.dead_lettered == 0
    handover = await watching[0]
    print(f"\n[replicas] SIGKILL {victim} (owned {sorted(moved)}): {handover.describe()}")
    # The survivor now owns every partition, as its own metrics say.
    assert await wait_for_split(pipeline, bootstrap, stage) == {"trigger_filter": set(range(PARTITIONS))}
    # Back to two copies for the next test; the group splits the partitions again.
    await asyncio.to_thread(pipeline.stack.start, [stage])
    await wait_for_split(pipeline, bootstrap, stage)


async def test_a_copy_frozen_past_its_session_timeout_then_resumed_doubles_nothing(
    replicated: tuple[Pipeline, str], kafka_cluster: KafkaCluster, pool_for: Any
) -> None:
    pipeline, url = replicated
    bootstrap = kafka_cluster.bootstrap
    stage, frozen = "importer", "importer-2"
    moved = (await wait_for_split(pipeline, bootstrap, stage))[frozen]
    group = group_of(pipeline, stage)
    watching: list[asyncio.Task[Any]] = []

    async def freeze_then_resume() -> None:
        since = asyncio.get_running_loop().time()
        pipeline.stack.signal(frozen, signal.SIGSTOP)
        # Read once it is frozen: a commit past this is another member's.
        before = await committed(bootstrap, group, INPUT[stage])
        watching.append(
            asyncio.create_task(
                watch_handover(
                    bootstrap,
                    group,
                    INPUT[stage],
                    moved=moved,
                    members_left=MEMBERS_PER_COPY[stage],
                    partitions=PARTITIONS,
                    before=before,
                    since=since,
                    within=SESSION_TIMEOUT_S + 5,
                )
            )
        )
        await asyncio.sleep(SESSION_TIMEOUT_S + 5)
        pipeline.stack.signal(frozen, signal.SIGCONT)

    ledger = await run_scenario(
        "replicas-freeze-importer", pipeline, await pool_for(url), bootstrap, freeze_then_resume, projects=4
    )
    assert ledger.dead_lettered == 0
    handover = await watching[0]
    print(
        f"\n[replicas] SIGSTOP {frozen} for {SESSION_TIMEOUT_S + 5:.0f}s (owned {sorted(moved)}): {handover.describe()}"
    )
    # The resumed copy rejoins the group and owns partitions again.
    split = await wait_for_split(pipeline, bootstrap, stage)
    # Its own log says whether it tried to commit for partitions the group had moved (reported, not asserted:
    # a copy frozen between messages has nothing to commit when it wakes).
    log_lines = pipeline.stack.services[frozen].log_path.read_text(errors="replace").splitlines()
    refused = sum("OffsetCommit failed" in line or "CommitFailedError" in line for line in log_lines)
    print(f"[replicas] {frozen}'s late commits refused by the group: {refused}")
    print("[replicas] after SIGCONT: " + ", ".join(f"{name} owns {sorted(p)}" for name, p in split.items()))
