"""Field history (issue 16 §3) through the real processes: an import records where each value came from, a
person's change through the API is recorded as such, and a refused change records nothing.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pipeline_common import topics
from pipeline_common.mapping_catalog import STANDARD_MAPPINGS
from tests.e2e.test_import_flow import imported, new_company
from tests.fixtures.pipeline import Pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]


async def test_history_says_who_wrote_each_value(pipeline: Pipeline, read_topic: Any) -> None:
    reader = await read_topic(topics.PROJECT_IMPORTED)
    async with (
        httpx.AsyncClient(base_url=pipeline.admin, timeout=30) as admin,
        httpx.AsyncClient(base_url=pipeline.sim, timeout=30) as sim,
    ):
        company, tenant = await new_company(pipeline, admin, sim)
        created = await tenant.new_project()
        await tenant.sign(created["agreement_id"])
        await imported(reader, created["project_id"])
        detail = await company.project_of(created["project_id"])
        path = f"/v1/projects/{detail['id']}/history"
        [log_entry] = (
            await company.call(
                "GET", "/v1/integrations/aurora/log", 200, kind="import", aurora_project_id=created["project_id"]
            )
        )["items"]

        after_import = (await company.call("GET", path, 200))["items"]
        await company.call("PATCH", f"/v1/projects/{detail['id']}", 200, {"title": "Renamed by the office"})
        refused = await admin.patch(
            f"/v1/projects/{detail['id']}",
            json={"street_address": "2 Other St", "postal_code": None},
            headers=company._auth,
        )
        titles = (await company.call("GET", path, 200, field="project.title"))["items"]
        everything = (await company.call("GET", path, 200))["items"]
        other, _ = await new_company(pipeline, admin, sim)
        r = await admin.get(path, headers=other._auth)

    by_field = {c["field"]: c for c in after_import}
    # The import wrote the project and its contact, each value attributed to the import and its mapping.
    assert {"project.title", "project.aurora_project_id", "contact.email"} <= set(by_field)
    assert all(c["source"] == "aurora_import" for c in after_import)
    assert {c["event_id"] for c in after_import} == {log_entry["event_id"]}
    standard = {m.target: m.source for m in STANDARD_MAPPINGS}
    assert by_field["project.title"]["mapping"] == standard["project.title"]
    assert by_field["project.title"]["old_value"] is None
    assert by_field["project.title"]["new_value"] == detail["title"]
    assert by_field["contact.email"]["new_value"] == detail["contact"]["email"]

    # A person's rename, newest first, with what it replaced; the refused PATCH left nothing behind.
    assert refused.status_code == 422
    assert [(c["source"], c["old_value"], c["new_value"]) for c in titles] == [
        ("api", detail["title"], "Renamed by the office"),
        ("aurora_import", None, detail["title"]),
    ]
    assert titles[0]["event_id"] is None
    assert titles[0]["mapping"] is None
    assert len(everything) == len(after_import) + 1
    # Another company cannot read it.
    assert r.status_code == 404
