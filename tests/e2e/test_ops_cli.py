"""`pipeline-ops`, run as an operator runs it (the installed console script in a subprocess), against the real
broker, database and service processes.

The story: a company connects with a restricted Aurora key that may not read projects. An agreement is signed
in Aurora, the webhook goes through the gateway, and the fetcher dead-letters the import (Aurora 403). The
operator finds it with `dlq list`, the company replaces the key, and `dlq replay` must re-run the fetch and
say that the project was imported. Then `tail`, `find` and `topics` must show that import.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline_common import topics
from tests.e2e.test_import_flow import AuroraTenant, CrmCompany, imported
from tests.fixtures.pipeline import OPERATOR_TOKEN, Pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

CLI = Path(sys.executable).parent / "pipeline-ops"


def ops(pipeline: Pipeline, *args: str) -> subprocess.CompletedProcess[str]:
    # A wide terminal, so that rich does not fold ids across lines.
    env = {**os.environ, **pipeline.env, "COLUMNS": "400", "NO_COLOR": "1"}
    return subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True, timeout=300, check=False)


async def aops(pipeline: Pipeline, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(ops, pipeline, *args)


async def log_entry(company: CrmCompany, aurora_project_id: str, kind: str, seconds: float = 60.0) -> dict[str, Any]:
    for _ in range(int(seconds / 0.2)):
        page = await company.call(
            "GET", "/v1/integrations/aurora/log", 200, kind=kind, aurora_project_id=aurora_project_id
        )
        if page["items"]:
            entry: dict[str, Any] = page["items"][0]
            return entry
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {kind} log entry for {aurora_project_id} within {seconds:.0f}s")


def dlq_position(listing: str, event_id: str) -> str:
    rows = [line for line in listing.splitlines() if event_id in line]
    assert len(rows) == 1, f"expected one dead letter for {event_id}:\n{listing}"
    position = next(cell.strip() for cell in rows[0].split("│") if cell.strip().startswith("p") and "@" in cell)
    return position


async def test_every_ops_command_and_a_replay_that_re_runs_a_failed_fetch(pipeline: Pipeline, read_topic: Any) -> None:
    reader = await read_topic(topics.PROJECT_IMPORTED)
    async with (
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
    ):
        r = await admin.post(
            "/v1/companies", json={"name": "Ops Solar"}, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}
        )
        assert r.status_code == 201, r.text
        company = CrmCompany(admin, r.json()["id"], r.json()["api_key"])
        t = (await sim.post("/_sim/tenants", json={"name": "Ops tenant"})).json()
        everything = [op["name"] for op in (await sim.get("/_sim/operations")).json()["operations"]]
        narrow = (
            await sim.post(
                f"/_sim/tenants/{t['tenant_id']}/keys",
                json={"kind": "restricted", "operations": [o for o in everything if o != "retrieve_project"]},
            )
        ).json()["api_key"]
        tenant = AuroraTenant(sim, t["tenant_id"], narrow)
        await company.connect(tenant)

        created = await tenant.new_project()
        await tenant.sign(created["agreement_id"])
        failed = await log_entry(company, created["project_id"], "fetch_error")
        import_id = failed["event_id"]
        assert "403" in failed["message"], failed

        # The company fixes the cause: a key that may read projects.
        full = (await sim.post(f"/_sim/tenants/{t['tenant_id']}/keys", json={"kind": "standard"})).json()["api_key"]
        await company.call("PUT", "/v1/integrations/aurora/token", 200, {"bearer_token": full})

        listing = await aops(pipeline, "dlq", "list", "--topic", topics.IMPORT_REQUESTED, "-n", "1000")
        assert listing.returncode == 0, listing.stderr
        assert "aurora_403" in listing.stdout, listing.stdout
        position = dlq_position(listing.stdout, import_id)

        replay = await aops(pipeline, "dlq", "replay", topics.IMPORT_REQUESTED, "--offset", position, "--wait", "120")
        assert replay.returncode == 0, f"{replay.stdout}\n{replay.stderr}"
        assert f"{position} event {import_id}: re-ran and imported" in replay.stdout, replay.stdout
        assert topics.PROJECT_FETCHED in replay.stdout
        assert topics.PROJECT_IMPORTED in replay.stdout

        # What a user sees: the project, one project.imported, and the replay in the integration log.
        message = (await imported(reader, created["project_id"]))[0]
        detail = await company.project_of(created["project_id"])
        assert message["crm_project_id"] == detail["id"]
        assert (await log_entry(company, created["project_id"], "replayed"))["event_id"] == import_id
        webhook = await log_entry(company, created["project_id"], "webhook")

        # A second replay of the same dead letter changes nothing: the import already ran.
        again = await aops(pipeline, "dlq", "replay", topics.IMPORT_REQUESTED, "--offset", position, "--wait", "5")
        assert again.returncode == 1, again.stdout
        assert "no sign that the stage re-ran it" in again.stdout, again.stdout
        assert not await reader.take(1, timeout=3.0, where=lambda m: m["aurora_project_id"] == created["project_id"])
        page = await company.call("GET", "/v1/projects", 200, aurora_project_id=created["project_id"])
        assert len(page["items"]) == 1

    tail = await aops(pipeline, "tail", topics.PROJECT_IMPORTED, "--project", created["project_id"], "-n", "5")
    assert tail.returncode == 0, tail.stderr
    assert message["event_id"] in tail.stdout, tail.stdout
    assert detail["id"] in tail.stdout, tail.stdout
    assert "1 message(s)" in tail.stdout

    found = await aops(pipeline, "find", webhook["event_id"])
    assert found.returncode == 0, found.stderr
    for what in ("import requested", "project fetched", "project imported", "integration log"):
        assert what in found.stdout, found.stdout
    assert f"{topics.IMPORT_REQUESTED}.dlq" in found.stdout, "the dead letter is part of the event's history"

    listed = await aops(pipeline, "topics")
    assert listed.returncode == 0, listed.stderr
    for topic in (topics.PROJECT_IMPORTED, topics.dlq_topic(topics.IMPORT_REQUESTED)):
        assert topic in listed.stdout
    assert pipeline.env["KAFKA_GROUP_PREFIX"] in listed.stdout, "the stages' consumer groups and their lag"

    unknown = await aops(pipeline, "dlq", "replay", "no.such.topic", "--all")
    assert unknown.returncode != 0
    assert "not a consumed topic" in unknown.stdout + unknown.stderr
