"""Fault injection basics: transport faults, response drift, webhook duplicates and reordering."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.aurora_sim.receiver import webhook_receiver
from tests.fixtures.aurora_sim import AuroraSim


def test_error_rate_is_scoped_to_a_tenant(aurora_sim: AuroraSim) -> None:
    victim, bystander = aurora_sim.create_tenant("Victim"), aurora_sim.create_tenant("Bystander")
    aurora_sim.set_faults(tenant_id=victim.tenant_id, error_rate=1.0)
    with aurora_sim.api(victim.api_key) as api:
        response = api.get(f"/tenants/{victim.tenant_id}/projects")
    assert response.status_code in (500, 502, 503)
    assert response.json()["errors"][0]["message"]
    with aurora_sim.api(bystander.api_key) as api:
        assert api.get(f"/tenants/{bystander.tenant_id}/projects").status_code == 200
    assert aurora_sim.requests(tenant_id=victim.tenant_id)[-1]["faults"] == ["error"]


def test_rate_limit_storm_and_latency(aurora_sim: AuroraSim) -> None:
    tenant = aurora_sim.create_tenant("Stormy")
    aurora_sim.set_faults(rate_limit_storm=True, storm_retry_after=7)
    with aurora_sim.api(tenant.api_key) as api:
        stormed = api.get(f"/tenants/{tenant.tenant_id}")
        assert stormed.status_code == 429
        assert stormed.headers["Retry-After"] == "7"
        aurora_sim.set_faults(latency_ms=250)
        started = time.monotonic()
        assert api.get(f"/tenants/{tenant.tenant_id}").status_code == 200
        assert time.monotonic() - started >= 0.24
        aurora_sim.clear_faults()
        started = time.monotonic()
        api.get(f"/tenants/{tenant.tenant_id}")
        assert time.monotonic() - started < 0.2


def test_timeout_and_reset(aurora_sim: AuroraSim) -> None:
    tenant = aurora_sim.create_tenant("Flaky")
    with aurora_sim.api(tenant.api_key) as api:
        aurora_sim.set_faults(timeout_rate=1.0, timeout_seconds=5)
        with pytest.raises(httpx.ReadTimeout):
            api.get(f"/tenants/{tenant.tenant_id}", timeout=0.3)
        aurora_sim.set_faults(reset_rate=1.0)
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            api.get(f"/tenants/{tenant.tenant_id}")


def test_unknown_enums_and_extra_fields(aurora_sim: AuroraSim) -> None:
    tenant = aurora_sim.create_tenant("Drift")
    project = aurora_sim.create_project(tenant.tenant_id)
    aurora_sim.set_faults(tenant_id=tenant.tenant_id, unknown_enum_values=True, extra_fields=True)
    with aurora_sim.api(tenant.api_key) as api:
        summary = api.get(f"/tenants/{tenant.tenant_id}/designs/{project.design_ids[0]}/summary").json()["design"]
        project_body = api.get(f"/tenants/{tenant.tenant_id}/projects/{project.project_id}").json()["project"]
    assert "ev_chargers" in {i["component_type"] for i in summary["bill_of_materials"]}
    assert "sim_future_property" in summary
    assert "sim_future_property" in project_body


def test_duplicate_and_out_of_order_webhooks(aurora_sim: AuroraSim) -> None:
    tenant = aurora_sim.create_tenant("Unordered")
    project = aurora_sim.create_project(tenant.tenant_id, fire_events=False)
    assert project.agreement_id is not None
    with webhook_receiver() as receiver:
        with aurora_sim.api(tenant.api_key) as api:
            api.post(
                f"/tenants/{tenant.tenant_id}/webhooks",
                json={"webhook": {"event": "agreement_status_changed", "url_template": f"{receiver.url}/a?s=<STATUS>"}},
            ).raise_for_status()
        aurora_sim.set_faults(tenant_id=tenant.tenant_id, duplicate_webhooks=1.0, out_of_order_webhooks=True)
        aurora_sim.set_agreement_status(tenant.tenant_id, project.agreement_id, "signed")
        hits = receiver.wait_for(3)
    statuses = [h.path for h in hits]
    assert statuses.count("/a?s=signed") == 2
    assert statuses.index("/a?s=viewed") > statuses.index("/a?s=signed")  # a stale `viewed` after `signed`
    injected = {d["injected"] for d in aurora_sim.deliveries(tenant_id=tenant.tenant_id)}
    assert injected == {None, "duplicate", "out_of_order"}


def test_file_faults_hand_out_expired_urls_or_answer_401(aurora_sim: AuroraSim) -> None:
    tenant = aurora_sim.create_tenant("Storage Trouble")
    project = aurora_sim.create_project(tenant.tenant_id)
    listing = f"/tenants/{tenant.tenant_id}/designs/{project.design_ids[0]}/assets"
    with aurora_sim.api(tenant.api_key) as api, httpx.Client() as files:
        assets = {a["asset_type"]: a for a in api.get(listing).json()["assets"]}
        layout, shot = assets["Design Layout"], assets["CAD Screenshot"]
        for asset, fault in ((layout, "expired"), (shot, "unauthorized")):
            body = {"tenant_id": tenant.tenant_id, "asset_id": asset["id"], "fault": fault, "times": 1}
            assert aurora_sim._control("POST", "/_sim/file-faults", json=body)
        fresh = {a["asset_type"]: a for a in api.get(listing).json()["assets"]}
        stale = files.get(fresh["Design Layout"]["url"])
        assert stale.status_code == 403
        assert stale.json()["errors"][0]["message"] == "Request has expired"
        assert files.get(fresh["CAD Screenshot"]["url"]).status_code == 401
        # Each fault is used up: the next URL works, and so does the next download.
        again = {a["asset_type"]: a for a in api.get(listing).json()["assets"]}
        assert files.get(again["Design Layout"]["url"]).status_code == 200
        assert files.get(fresh["CAD Screenshot"]["url"]).status_code == 200


def test_proposal_pdf_job_succeeds_fails_or_stalls(aurora_sim: AuroraSim) -> None:
    tenant = aurora_sim.create_tenant("Proposals")
    project = aurora_sim.create_project(tenant.tenant_id)
    base = f"/tenants/{tenant.tenant_id}/designs/{project.design_ids[0]}/proposal_pdf_generation"
    with aurora_sim.api(tenant.api_key) as api, httpx.Client() as files:

        def run_and_read(reads: int) -> dict[str, object]:
            started = api.post(f"{base}/run")
            assert started.status_code == 202, started.text
            job = started.json()["proposal_pdf_generation_job"]
            assert job["status"] == "in-progress"
            for _ in range(reads):
                job = api.get(f"{base}/status", params={"job_id": job["job_id"]}).json()["proposal_pdf_generation_job"]
            return dict(job)

        done = run_and_read(2)
        assert done["status"] == "succeeded"
        pdf = files.get(str(done["file_url"]))
        assert pdf.status_code == 200
        assert pdf.content.startswith(b"%PDF-")
        aurora_sim.set_faults(tenant_id=tenant.tenant_id, proposal_pdf_jobs="fail")
        failed = run_and_read(2)
        assert failed["status"] == "failed"
        assert failed["error"]
        aurora_sim.set_faults(tenant_id=tenant.tenant_id, proposal_pdf_jobs="stall")
        assert run_and_read(5)["status"] == "in-progress"
        assert api.get(f"{base}/status", params={"job_id": "nope"}).status_code == 404


def test_null_fields_answers_null_but_keeps_ids_links_and_statuses(aurora_sim: AuroraSim) -> None:
    tenant = aurora_sim.create_tenant("Nulls")
    project = aurora_sim.create_project(tenant.tenant_id)
    design_id = project.design_ids[0]
    aurora_sim.set_faults(tenant_id=tenant.tenant_id, null_fields=True)
    with aurora_sim.api(tenant.api_key) as api:
        body = api.get(f"/tenants/{tenant.tenant_id}/projects/{project.project_id}").json()["project"]
        summary = api.get(f"/tenants/{tenant.tenant_id}/designs/{design_id}/summary").json()["design"]
        agreement = api.get(f"/tenants/{tenant.tenant_id}/agreements/{project.agreement_id}").json()["agreement"]
        assets = api.get(f"/tenants/{tenant.tenant_id}/designs/{design_id}/assets").json()["assets"]
    assert body["id"] == project.project_id
    assert body["tags"] is None
    assert body["customer_first_name"] is None
    assert body["created_at"] is None
    assert body["location"]["property_address"] is None
    assert body["location"]["latitude"] is None
    assert set(body["location"]["property_address_components"].values()) == {None}
    assert summary["design_id"] == design_id
    assert summary["bill_of_materials"] is None
    assert summary["energy_production"]["monthly"] is None
    assert agreement["status"] == "sent"
    assert agreement["design_id"]
    assert agreement["sent_at"] is None
    assert all(a["url"] and a["id"] and a["file_name"] is None for a in assets)
    # The stored records are untouched: without the fault the same project reads as before.
    aurora_sim.clear_faults()
    with aurora_sim.api(tenant.api_key) as api:
        again = api.get(f"/tenants/{tenant.tenant_id}/projects/{project.project_id}").json()["project"]
    assert again["location"]["property_address"]
    assert again["tags"] == []
