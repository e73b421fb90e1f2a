"""The run's private pipeline: its own database, topic prefix, consumer groups, free ports and processes.

Every phase talks to the pipeline the way Aurora and a company admin do: companies are created and connected
through the admin API, Aurora tenants and projects through the emulator's control API, and webhooks are the
GETs Aurora would send, fired at the gateway with the integration's secret header. Processes are started by
the same supervisor as `make run` (pipeline_devtools.devstack).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import socket
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from pipeline_common import topics, webhooks
from pipeline_common.migrations.runner import migrate
from pipeline_common.secrets import WebhookSigner
from pipeline_devtools.devstack import SERVICES, DevStack

PARTITIONS = 6


def say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_topics() -> tuple[str, ...]:
    # The bench process's own KAFKA_TOPIC_PREFIX (if any) is not the run's: strip it, add the run's.
    return tuple(t.removeprefix(topics.PREFIX) for t in topics.every_topic())


def base_name(topic: str) -> str:
    return topic.removeprefix(topics.PREFIX)


@dataclass(frozen=True)
class Company:
    name: str
    company_id: str
    api_key: str
    tenant_id: str
    aurora_key: str
    integration_id: str
    secret_header: str


@dataclass(frozen=True)
class SignedProject:
    company: Company
    project_id: str
    agreement_id: str
    financing_id: str | None


@dataclass
class Run:
    """What every stack of one run shares: the broker, the database server, keys and the log folder."""

    run_id: str
    kafka_bootstrap: str
    admin_database_url: str
    log_dir: Path
    log_level: str
    operator_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    signing_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    token_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))


class Database:
    """A fresh, migrated database per stack, dropped at the end: no phase sees another's rows or queue."""

    def __init__(self, admin_url: str, name: str) -> None:
        self.admin_url = admin_url
        self.name = name
        base, _, _ = admin_url.rpartition("/")
        self.url = f"{base}/{name}"
        self.pool: asyncpg.Pool[Any] | None = None
        self.created = False

    async def create(self) -> None:
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{self.name}"')
            self.created = True
        finally:
            await conn.close()
        conn = await asyncpg.connect(self.url)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        self.pool = await asyncpg.create_pool(self.url, min_size=1, max_size=4)

    async def drop(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None
        if not self.created:
            return
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.created = False
        finally:
            await conn.close()


class BenchStack:
    """One set of topics and consumer groups (its label makes the prefix) with the processes on them."""

    def __init__(self, run: Run, label: str, *, aurora_limit_per_minute: int) -> None:
        self.run = run
        self.label = label
        self.prefix = f"bench-{run.run_id}-{label}."
        self.group_prefix = f"{self.prefix}pipeline"
        self.database = Database(run.admin_database_url, f"bench_{run.run_id}_{label}".replace("-", "_"))
        ports = {s.name: free_port() for s in SERVICES}
        self.env: dict[str, str] = {
            "KAFKA_BOOTSTRAP_SERVERS": run.kafka_bootstrap,
            "DATABASE_URL": self.database.url,
            "AURORA_BASE_URL": f"http://127.0.0.1:{ports['aurora_sim']}",
            "PUBLIC_WEBHOOK_BASE_URL": f"http://127.0.0.1:{ports['gateway']}",
            "OPERATOR_TOKEN": run.operator_token,
            "TOKEN_ENCRYPTION_KEYS": run.token_key,
            "WEBHOOK_SIGNING_KEYS": run.signing_key,
            "AURORA_SIM_SEED": "11",
            # Aurora's signed-document job done at the first status read: the fastest Aurora could be, so the
            # waiting the fetcher does is its own polling, not the emulator's.
            "AURORA_SIM_DOWNLOAD_JOB_PENDING_READS": "0",
            "LOG_LEVEL": run.log_level,
            "KAFKA_TOPIC_PREFIX": self.prefix,
            "KAFKA_GROUP_PREFIX": self.group_prefix,
            "AURORA_REQUESTS_PER_MINUTE": str(aurora_limit_per_minute),
        }
        self.devstack = DevStack(env=self.env, log_dir=run.log_dir / label, ports=ports)
        self.signer = WebhookSigner([run.signing_key])
        self.topics_created: list[str] = []

    def db(self) -> asyncpg.Pool[Any]:
        assert self.database.pool is not None, "the stack's database is not created"
        return self.database.pool

    async def open(self, extra_topics: Iterable[str] = ()) -> None:
        await self.database.create()
        await self.create_topics(extra_topics)

    async def close(self) -> None:
        """Everything this stack made goes, even when a step of it fails."""
        await asyncio.to_thread(self.stop)
        for step, what in ((self.delete_topics, f"topics {self.prefix}*"), (self.database.drop, self.database.name)):
            try:
                await asyncio.wait_for(step(), 30)
            except Exception as exc:
                say(f"could not remove {what}: {exc!r}")

    def topic(self, base: str) -> str:
        return self.prefix + base_name(base)

    async def create_topics(self, extra: Iterable[str] = ()) -> None:
        wanted = [self.prefix + t for t in (*base_topics(), *extra)]
        admin = AIOKafkaAdminClient(bootstrap_servers=self.run.kafka_bootstrap, request_timeout_ms=15_000)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(t, num_partitions=PARTITIONS, replication_factor=1) for t in wanted])
            self.topics_created.extend(wanted)
            # A producer that arrives before every partition has a leader gets NotLeaderForPartition retries.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                described = await admin.describe_topics(wanted)
                if all(p["leader"] >= 0 for d in described for p in d["partitions"]) and all(
                    len(d["partitions"]) == PARTITIONS for d in described
                ):
                    break
                await asyncio.sleep(0.2)
        finally:
            await admin.close()

    async def delete_topics(self) -> None:
        if not self.topics_created:
            return
        admin = AIOKafkaAdminClient(bootstrap_servers=self.run.kafka_bootstrap, request_timeout_ms=15_000)
        await admin.start()
        try:
            await admin.delete_topics(self.topics_created)
            self.topics_created = []
        finally:
            await admin.close()

    async def start(self, names: Sequence[str] | None = None) -> None:
        await asyncio.to_thread(self.devstack.start, names, timeout=90)

    def stop(self) -> None:
        self.devstack.stop_all()

    def url(self, name: str) -> str:
        return self.devstack.url(name)

    def pids(self) -> dict[str, int]:
        return {name: s.process.pid for name, s in self.devstack.services.items() if s.process.poll() is None}

    # --- companies, tenants and projects -------------------------------------------------------------

    async def connect_company(self, client: httpx.AsyncClient, name: str, *, limit_per_minute: int) -> Company:
        sim, admin = self.url("aurora_sim"), self.url("admin")
        tenant = _ok(await client.post(f"{sim}/_sim/tenants", json={"name": f"{name} tenant"}), "creating a tenant")
        _ok(
            await client.put(
                f"{sim}/_sim/tenants/{tenant['tenant_id']}/rate_limit", json={"rate_limit_per_minute": limit_per_minute}
            ),
            "setting the tenant's rate limit",
        )
        company = _ok(
            await client.post(
                f"{admin}/v1/companies",
                json={"name": name},
                headers={"Authorization": f"Bearer {self.run.operator_token}"},
            ),
            "creating a company",
        )
        integration = _ok(
            await client.post(
                f"{admin}/v1/integrations/aurora",
                json={"tenant_id": tenant["tenant_id"], "bearer_token": tenant["api_key"]},
                headers={"Authorization": f"Bearer {company['api_key']}"},
            ),
            "connecting Aurora",
        )
        integration_id = str(integration["id"])
        generation = await self.db().fetchval(
            "SELECT webhook_generation FROM integration_webhook_keys WHERE id = $1::uuid", integration_id
        )
        secret = self.signer.secret_for(integration_id, int(generation))
        return Company(
            name=name,
            company_id=str(company["id"]),
            api_key=company["api_key"],
            tenant_id=tenant["tenant_id"],
            aurora_key=tenant["api_key"],
            integration_id=integration_id,
            secret_header=webhooks.secret_header_value(int(generation), secret),
        )

    async def connect_companies(
        self, client: httpx.AsyncClient, label: str, count: int, *, limit_per_minute: int
    ) -> list[Company]:
        return list(
            await asyncio.gather(
                *(
                    self.connect_company(client, f"bench {label} {i + 1}", limit_per_minute=limit_per_minute)
                    for i in range(count)
                )
            )
        )

    async def signed_projects(
        self, client: httpx.AsyncClient, company: Company, *, bulk: int, seed: int = 1
    ) -> list[SignedProject]:
        """Projects created in bulk without webhooks; the ones whose agreement is signed are importable."""
        created = _ok(
            await client.post(
                f"{self.url('aurora_sim')}/_sim/tenants/{company.tenant_id}/projects/bulk",
                json={"count": bulk, "seed": seed, "fire_events": False},
                timeout=120,
            ),
            "creating projects in bulk",
        )
        return [
            SignedProject(company, p["project_id"], p["agreement_id"], p.get("financing_id"))
            for p in created["projects"]
            if p.get("agreement_status") == "signed" and p.get("agreement_id")
        ]

    async def fire(self, client: httpx.AsyncClient, project: SignedProject) -> tuple[float, float, int]:
        """Aurora's GET for `agreement_status_changed → signed`; returns (sent, answered, status)."""
        params = {
            "event": "agreement_status_changed",
            "project_id": project.project_id,
            "agreement_id": project.agreement_id,
            "status": "signed",
        }
        if project.financing_id:
            params["financing_id"] = project.financing_id
        sent = time.time()
        try:
            response = await client.get(
                f"{self.url('gateway')}{webhooks.webhook_path(project.company.integration_id)}",
                params=params,
                headers={webhooks.SECRET_HEADER: project.company.secret_header},
            )
            status = response.status_code
        except httpx.HTTPError:
            status = 0
        return sent, time.time(), status

    # --- what the operator sees ----------------------------------------------------------------------

    async def lag(self) -> dict[str, int]:
        """Unconsumed messages per stage group (end offset - committed offset, summed over partitions)."""
        inputs = {
            "trigger_filter": self.topic(topics.WEBHOOK_RECEIVED),
            "fetcher": self.topic(topics.IMPORT_REQUESTED),
            "importer": self.topic(topics.PROJECT_FETCHED),
        }
        admin = AIOKafkaAdminClient(bootstrap_servers=self.run.kafka_bootstrap)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.run.kafka_bootstrap, enable_auto_commit=False)
        await admin.start()
        await consumer.start()
        try:
            parts = [TopicPartition(t, p) for t in inputs.values() for p in range(PARTITIONS)]
            ends = await consumer.end_offsets(parts)
            result: dict[str, int] = {}
            for stage, topic in inputs.items():
                committed = await admin.list_consumer_group_offsets(f"{self.group_prefix}.{stage}")
                # Offsets committed after the end offsets were read can be ahead of them: count that as 0.
                result[stage] = sum(
                    max(0, ends[tp] - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0))
                    for tp in parts
                    if tp.topic == topic
                )
            return result
        finally:
            await consumer.stop()
            await admin.close()

    async def backlog(self, integration_ids: Sequence[str] | None = None) -> dict[str, int]:
        """Work held in Postgres rather than Kafka: the fetch queue and the importer's outbox."""
        db = self.db()
        where = "AND integration_id = ANY($1::uuid[])" if integration_ids is not None else ""
        args: list[Any] = [list(integration_ids)] if integration_ids is not None else []
        rows = await db.fetch(
            f"SELECT status, count(*) AS n FROM fetch_queue WHERE status IN ('pending','in_progress') {where} "  # noqa: S608
            "GROUP BY status",
            *args,
        )
        found = {f"fetch_{r['status']}": int(r["n"]) for r in rows}
        found["outbox_unpublished"] = int(
            await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") or 0
        )
        return {"fetch_pending": 0, "fetch_in_progress": 0, **found}

    async def aurora_requests(self, client: httpx.AsyncClient, tenant_id: str) -> list[dict[str, Any]]:
        response = await client.get(
            f"{self.url('aurora_sim')}/_sim/requests", params={"tenant_id": tenant_id, "limit": 100_000}, timeout=60
        )
        requests: list[dict[str, Any]] = _ok(response, "reading the emulator's request log")["requests"]
        return requests


_ID_SEGMENT = re.compile(r"^(?=.*\d)[A-Za-z0-9_-]{8,}$")


def endpoint_of(method: str, path: str) -> str:
    """`GET /tenants/{id}/projects/{id}`: ids folded so calls group by Aurora endpoint."""
    if path.startswith("/files/"):
        return f"{method} /files/… (download)"
    return f"{method} " + "/".join("{id}" if _ID_SEGMENT.match(s) else s for s in path.split("/"))


def _ok(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 300:
        raise RuntimeError(f"{what} failed: {response.status_code} {response.text[:300]}")
    return response.json() if response.content else None


@contextlib.asynccontextmanager
async def http_client(connections: int = 100) -> Any:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        yield client


def new_run_id() -> str:
    return f"{time.strftime('%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}"
