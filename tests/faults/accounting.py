"""Load and accounting for the fault tests.

A `Load` is several companies, each connected to its own emulator tenant through the admin API, with
projects whose agreements are already signed in Aurora. The test fires the webhooks itself at the gateway,
the way Aurora would (retrying until a 2xx), so it knows exactly which webhooks were *accepted*. The
`Ledger` then accounts for every accepted webhook from what the pipeline left behind: each must end as
imported, skipped with a reason, or dead-lettered with a reason. Duplicates are counted where a user would
see them, per Aurora project: `project.imported` messages and `import` entries in the integration log (rows
in tables with a unique index cannot double, so counting those proves nothing).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from pipeline_common import topics, webhooks
from pipeline_common.secrets import WebhookSigner
from pipeline_devtools.ops.kafka_view import scan
from tests.fixtures.pipeline import OPERATOR_TOKEN, SIGNING_KEYS, Pipeline


@dataclass
class Company:
    company_id: str
    integration_id: str
    tenant_id: str
    api_key: str
    secret_header: dict[str, str]
    projects: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Webhook:
    company: Company
    params: dict[str, str]
    expect_import: bool


@dataclass
class Load:
    companies: list[Company]
    webhooks: list[Webhook]
    accepted: dict[str, Webhook] = field(default_factory=dict)
    refused: Counter[int] = field(default_factory=Counter)
    # Seconds from the first attempt to the gateway's 200, per accepted webhook (what Aurora would wait).
    accept_seconds: list[float] = field(default_factory=list)


async def make_load(pipeline: Pipeline, db: asyncpg.Pool[Any], *, companies: int, projects: int, label: str) -> Load:
    """Signed projects for several companies, plus a duplicate and a late `viewed` for some of them."""
    made: list[Company] = []
    hooks: list[Webhook] = []
    async with (
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
    ):
        for n in range(companies):
            tenant = (await sim.post("/_sim/tenants", json={"name": f"{label} tenant {n}"})).json()
            created = []
            for _ in range(projects):
                r = await sim.post(
                    f"/_sim/tenants/{tenant['tenant_id']}/projects",
                    json={"agreement_status": "signed", "fire_events": False},
                )
                assert r.status_code == 201, r.text
                created.append(r.json())
            company = (
                await admin.post(
                    "/v1/companies",
                    json={"name": f"{label} {n}"},
                    headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
                )
            ).json()
            auth = {"Authorization": f"Bearer {company['api_key']}"}
            r = await admin.post(
                "/v1/integrations/aurora",
                headers=auth,
                json={"tenant_id": tenant["tenant_id"], "bearer_token": tenant["api_key"]},
            )
            assert r.status_code == 201, r.text
            row = await db.fetchrow(
                "SELECT id::text, webhook_generation FROM integrations "
                "WHERE company_id = $1::uuid AND status = 'active'",
                company["id"],
            )
            assert row is not None
            secret = WebhookSigner([SIGNING_KEYS]).secret_for(row["id"], row["webhook_generation"])
            c = Company(
                company["id"],
                row["id"],
                tenant["tenant_id"],
                tenant["api_key"],
                {webhooks.SECRET_HEADER: webhooks.secret_header_value(row["webhook_generation"], secret)},
                created,
            )
            made.append(c)
            for p in created:
                signed = {
                    "event": "agreement_status_changed",
                    "project_id": p["project_id"],
                    "agreement_id": p["agreement_id"],
                    "status": "signed",
                }
                hooks.append(Webhook(c, signed, True))
            # Aurora redelivers and reorders: a duplicate `signed` and a late `viewed` for a third of them.
            for p in created[: max(1, projects // 3)]:
                hooks.append(
                    Webhook(
                        c,
                        {
                            "event": "agreement_status_changed",
                            "project_id": p["project_id"],
                            "agreement_id": p["agreement_id"],
                            "status": "signed",
                        },
                        False,
                    )
                )
                hooks.append(
                    Webhook(
                        c,
                        {
                            "event": "agreement_status_changed",
                            "project_id": p["project_id"],
                            "agreement_id": p["agreement_id"],
                            "status": "viewed",
                        },
                        False,
                    )
                )
    # Originals first (in random order), then the redeliveries: a late `viewed` comes after its `signed`.
    firsts = [h for h in hooks if h.expect_import]
    rest = [h for h in hooks if not h.expect_import]
    random.Random(label).shuffle(firsts)
    random.Random(label + "x").shuffle(rest)
    return Load(made, firsts + rest)


async def fire(pipeline: Pipeline, load: Load, *, rate_per_second: float, deadline_seconds: float = 240) -> None:
    """Deliver every webhook like Aurora: retry on errors and non-2xx until accepted (bounded)."""
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + deadline_seconds
    semaphore = asyncio.Semaphore(20)

    async def deliver(client: httpx.AsyncClient, hook: Webhook) -> None:
        async with semaphore:
            delay = 0.2
            first_try = loop.time()
            while loop.time() < stop_at:
                try:
                    r = await client.get(
                        f"/webhooks/aurora/{hook.company.integration_id}",
                        params=hook.params,
                        headers=hook.company.secret_header,
                    )
                except httpx.HTTPError:
                    load.refused[0] += 1
                else:
                    if r.status_code == 200:
                        load.accepted[r.json()["event_id"]] = hook
                        load.accept_seconds.append(loop.time() - first_try)
                        return
                    load.refused[r.status_code] += 1
                    assert r.status_code >= 500, f"webhook refused for good: {r.status_code} {r.text}"
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            raise AssertionError("webhook not accepted before the deadline")

    async with httpx.AsyncClient(base_url=pipeline.gateway, timeout=15) as client:
        tasks = []
        for hook in load.webhooks:
            tasks.append(asyncio.create_task(deliver(client, hook)))
            await asyncio.sleep(1 / rate_per_second)
        await asyncio.gather(*tasks)


@dataclass
class Ledger:
    accepted: int
    logged_by_trigger_filter: int
    skipped: int
    import_requested: int
    imported_projects: int
    dead_lettered: int
    lost: list[str]
    duplicated: list[str]
    # Per Aurora project: what other services and the company saw of its import.
    imported_messages: Counter[str] = field(default_factory=Counter)
    import_log_entries: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        return (
            f"accepted={self.accepted} skipped={self.skipped} import_requested={self.import_requested} "
            f"imported={self.imported_projects} project.imported={sum(self.imported_messages.values())} "
            f"import_log_entries={sum(self.import_log_entries.values())} dead_lettered={self.dead_lettered} "
            f"lost={len(self.lost)} duplicated={len(self.duplicated)}"
        )


async def dead_letters(kafka_bootstrap: str, company_ids: set[str]) -> dict[str, dict[str, str]]:
    """Dead letters of these companies by Aurora project id, with the reason headers."""
    found: dict[str, dict[str, str]] = {}
    for base in topics.CONSUMED:
        async for record in scan(kafka_bootstrap, topics.dlq_topic(base)):
            body = record.body()
            if isinstance(body, dict) and (body.get("company_id") in company_ids):
                found[str(body.get("aurora_project_id"))] = record.headers
    return found


async def imported_messages(kafka_bootstrap: str, company_ids: set[str]) -> Counter[str]:
    """`project.imported` messages of these companies per Aurora project, as a consumer of the topic sees them."""
    counts: Counter[str] = Counter()
    async for record in scan(kafka_bootstrap, topics.PROJECT_IMPORTED):
        body = record.body()
        if isinstance(body, dict) and body.get("company_id") in company_ids:
            counts[str(body["aurora_project_id"])] += 1
    return counts


async def settle(db: asyncpg.Pool[Any], load: Load, kafka_bootstrap: str, *, within: float = 180) -> Ledger:
    """Waits until every accepted webhook is accounted for (or the timeout), then returns the ledger."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    company_ids = {c.company_id for c in load.companies}
    expected_projects = {h.params["project_id"] for h in load.accepted.values() if h.expect_import}
    while True:
        ledger = await account(db, load, kafka_bootstrap, company_ids, expected_projects)
        if not ledger.lost or loop.time() > deadline:
            if not ledger.lost:
                # Anything still on its way (a redelivery, an outbox row published twice) arrives now or never.
                await asyncio.sleep(5)
                ledger = await account(db, load, kafka_bootstrap, company_ids, expected_projects)
            return ledger
        await asyncio.sleep(2)


async def account(
    db: asyncpg.Pool[Any], load: Load, kafka_bootstrap: str, company_ids: set[str], expected_projects: set[str]
) -> Ledger:
    event_ids = list(load.accepted)
    decisions = await db.fetch(
        "SELECT event_id, action FROM integration_log WHERE kind = 'webhook' AND event_id = ANY($1::text[])",
        event_ids,
    )
    by_event = {r["event_id"]: r["action"] for r in decisions}
    rows = await db.fetch(
        "SELECT DISTINCT aurora_project_id FROM projects WHERE company_id = ANY($1::uuid[]) "
        "AND aurora_project_id IS NOT NULL",
        list(company_ids),
    )
    projects = {r["aurora_project_id"] for r in rows}
    entries = Counter(
        {
            r["aurora_project_id"]: r["n"]
            for r in await db.fetch(
                "SELECT aurora_project_id, count(*) AS n FROM integration_log WHERE kind = 'import' "
                "AND company_id = ANY($1::uuid[]) GROUP BY aurora_project_id",
                list(company_ids),
            )
        }
    )
    messages = await imported_messages(kafka_bootstrap, company_ids)
    dlq = await dead_letters(kafka_bootstrap, company_ids) if expected_projects - projects else {}
    lost = [e for e in event_ids if e not in by_event]
    lost += [p for p in expected_projects if p not in projects and p not in dlq]
    # An imported project whose announcement or log entry is still missing is not accounted for yet.
    lost += [f"{p} (no project.imported)" for p in projects if not messages[p]]
    lost += [f"{p} (no import log entry)" for p in projects if not entries[p]]
    # Each accepted `signed` webhook allows one import of its project; the load sends one per project.
    allowed = Counter(h.params["project_id"] for h in load.accepted.values() if h.expect_import)
    duplicated = [
        f"{p}: {messages[p]} project.imported, {entries[p]} import log entries (allowed {allowed[p]})"
        for p in set(messages) | set(entries) | projects
        if messages[p] > 1 or entries[p] > 1 or max(messages[p], entries[p]) > allowed[p]
    ]
    return Ledger(
        accepted=len(event_ids),
        logged_by_trigger_filter=len(by_event),
        skipped=sum(1 for a in by_event.values() if a == "skipped"),
        import_requested=sum(1 for a in by_event.values() if a == "import_requested"),
        imported_projects=len(projects & expected_projects),
        dead_lettered=len(dlq),
        lost=lost,
        duplicated=duplicated,
        imported_messages=messages,
        import_log_entries=entries,
    )


# Aurora's real limit stays in force (90 requests/min per key): 8 projects per company fit one key's first
# minute, so a scenario measures the fault, not the rate limit. 6 companies x (8 signed + 2 duplicate `signed`
# + 2 late `viewed`) = 72 webhooks per scenario, 648 over the suite.
COMPANIES = 6
PROJECTS = 8
RATE = 20.0  # webhooks per second
RESULTS: dict[str, str] = {}


async def run_scenario(
    name: str,
    pipeline: Pipeline,
    db: asyncpg.Pool[Any],
    kafka: str,
    fault: Callable[[], Awaitable[None]],
    *,
    fault_after: float = 2.0,
    rate: float = RATE,
    companies: int = COMPANIES,
    projects: int = PROJECTS,
) -> Ledger:
    """Fires the standard load at the gateway, injects `fault` after `fault_after` seconds, settles, and
    checks the ledger: every accepted webhook imported, skipped or dead-lettered, none lost or doubled."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    load = await make_load(pipeline, db, companies=companies, projects=projects, label=fresh_label(name))
    loaded = loop.time()

    async def inject() -> None:
        await asyncio.sleep(fault_after)
        await fault()

    await asyncio.gather(fire(pipeline, load, rate_per_second=rate), inject())
    fired = loop.time()
    ledger = await settle(db, load, kafka)
    RESULTS[name] = (
        f"sent={len(load.webhooks)} refused_attempts={sum(load.refused.values())} "
        f"slowest_accept={max(load.accept_seconds, default=0):.1f}s {ledger.summary()} "
        f"(setup {loaded - started:.1f}s, firing+fault {fired - loaded:.1f}s, settling {loop.time() - fired:.1f}s)"
    )
    print(f"\n[{name}] {RESULTS[name]}")
    signed = {h.params["project_id"] for h in load.accepted.values() if h.expect_import}
    assert ledger.accepted == len(load.webhooks), "every webhook is eventually accepted (Aurora retries)"
    assert ledger.lost == [], f"lost: {ledger.lost[:5]}"
    assert ledger.duplicated == [], f"duplicated: {ledger.duplicated[:5]}"
    assert ledger.logged_by_trigger_filter == ledger.accepted
    assert ledger.import_requested + ledger.skipped == ledger.accepted
    # A webhook the gateway published but could not acknowledge (killed mid-request) is retried by the sender
    # like Aurora would; the earlier copy then starts the import and the acknowledged one is the duplicate.
    assert ledger.import_requested <= len(signed)
    assert ledger.imported_projects + ledger.dead_lettered == len(signed)
    # What other services and the company see: exactly one announcement and one log entry per imported project.
    imported = {p for p in signed if ledger.imported_messages[p]}
    assert len(imported) == ledger.imported_projects
    assert all(ledger.imported_messages[p] == 1 and ledger.import_log_entries[p] == 1 for p in imported)
    # The accepted webhooks allow one import per signed project (an unacknowledged copy the gateway published
    # may be the one that started it, so this is not bounded by `import_requested`).
    assert sum(ledger.imported_messages.values()) <= len(signed)
    assert sum(ledger.import_log_entries.values()) <= len(signed)
    return ledger


def fresh_label(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"
