"""Webhook delivery against a real loopback receiver: GET, substitution, encoding, auth, retries, auto-disable."""

from __future__ import annotations

import itertools
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.aurora_sim.receiver import Receiver, webhook_receiver
from tests.fixtures.aurora_sim import AuroraSim, SimTenant, start_aurora_sim


def subscribe(sim: AuroraSim, tenant: SimTenant, event: str, url_template: str, **extra: Any) -> dict[str, Any]:
    with sim.api(tenant.api_key) as api:
        response = api.post(
            f"/tenants/{tenant.tenant_id}/webhooks",
            json={"webhook": {"event": event, "url_template": url_template, "enabled": True, **extra}},
        )
    assert response.status_code == 201, response.text
    hook: dict[str, Any] = response.json()["webhook"]
    return hook


def wait_deliveries(sim: AuroraSim, count: int, timeout: float = 10.0, **filters: Any) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = sim.deliveries(**filters)
        if len(found) >= count and all(d["status"] in ("delivered", "failed", "abandoned") for d in found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"deliveries not settled: {found}")
        time.sleep(0.02)


def test_documented_agreement_signed_delivery(aurora_sim: AuroraSim) -> None:
    tenant = aurora_sim.create_tenant("Hooked Solar")
    project = aurora_sim.create_project(tenant.tenant_id, fire_events=False)
    assert project.agreement_id is not None
    with webhook_receiver() as receiver:
        subscribe(
            aurora_sim,
            tenant,
            "agreement_status_changed",
            f"{receiver.url}/aurora?project_id=<PROJECT_ID>&status=<STATUS>&agreement_id=<AGREEMENT_ID>",
            header_auth_key="X-Webhook-Token",
            header_auth_value="tok en/+",
        )
        aurora_sim.set_agreement_status(tenant.tenant_id, project.agreement_id, "signed")
        (hit,) = receiver.wait_for(1)
    assert hit.method == "GET"
    assert hit.path == f"/aurora?project_id={project.project_id}&status=signed&agreement_id={project.agreement_id}"
    assert hit.headers["x-webhook-token"] == "tok en/+"
    (delivery,) = wait_deliveries(aurora_sim, 1, tenant_id=tenant.tenant_id)
    assert delivery["status"] == "delivered"
    assert delivery["attempts"][0]["status_code"] == 200


def test_values_are_url_encoded_and_absent_ones_empty(aurora_sim: AuroraSim) -> None:
    tenant = aurora_sim.create_tenant("Encoding Solar")
    project = aurora_sim.create_project(tenant.tenant_id, fire_events=False, with_financing=False)
    assert project.agreement_id is not None
    assert project.financing_id is None
    with webhook_receiver() as receiver:
        subscribe(aurora_sim, tenant, "project_status_changed", f"{receiver.url}/p?id=<PROJECT_ID>&status=<STATUS>")
        subscribe(
            aurora_sim,
            tenant,
            "agreement_status_changed",
            f"{receiver.url}/a?status=<STATUS>&financing_id=<FINANCING_ID>&design_id=<DESIGN_ID>&x=<UNKNOWN>",
        )
        aurora_sim.set_project_status(tenant.tenant_id, project.project_id, "Project Sold & Paid/50%")
        aurora_sim.set_agreement_status(tenant.tenant_id, project.agreement_id, "cancel_pending")
        hits = receiver.wait_for(2)
    by_path = {h.path.split("?")[0]: h.path for h in hits}
    assert by_path["/p"] == f"/p?id={project.project_id}&status=Project%20Sold%20%26%20Paid%2F50%25"
    assert dict(parse_qsl(urlsplit(by_path["/p"]).query))["status"] == "Project Sold & Paid/50%"
    assert by_path["/a"] == f"/a?status=cancel-pending&financing_id=&design_id={project.design_ids[0]}&x="


def test_project_creation_fires_the_documented_events(aurora_sim: AuroraSim) -> None:
    tenant = aurora_sim.create_tenant("Events Solar")
    with webhook_receiver() as receiver:
        for event, template in (
            ("project_created", "/created?project_id=<PROJECT_ID>&source=<SOURCE>"),
            ("design_created", "/design?design_id=<DESIGN_ID>&source=<SOURCE>"),
            ("asset_created", "/asset?asset_id=<ASSET_ID>&asset_type=<ASSET_TYPE>"),
            ("milestone_created", "/milestone?design_id=<DESIGN_ID>&milestone=<MILESTONE>"),
        ):
            subscribe(aurora_sim, tenant, event, receiver.url + template)
        project = aurora_sim.create_project(tenant.tenant_id)
        aurora_sim.set_milestone(tenant.tenant_id, project.design_ids[0], "installed")
        hits = receiver.wait_for(6)
    paths = sorted(h.path for h in hits)
    assert f"/created?project_id={project.project_id}&source=app" in paths
    assert f"/design?design_id={project.design_ids[0]}&source=app" in paths
    assert sum(p.startswith("/asset?") for p in paths) == 3
    assert any("asset_type=CAD%20Screenshot" in p for p in paths)
    assert f"/milestone?design_id={project.design_ids[0]}&milestone=installed" in paths


def test_retries_follow_the_time_scaled_schedule(aurora_sim: AuroraSim) -> None:
    tenant = aurora_sim.create_tenant("Retry Solar")
    project = aurora_sim.create_project(tenant.tenant_id, fire_events=False)
    with webhook_receiver() as receiver:
        receiver.script = [500, 503, 200]
        subscribe(aurora_sim, tenant, "project_status_changed", f"{receiver.url}/s?status=<STATUS>")
        aurora_sim.set_project_status(tenant.tenant_id, project.project_id, "Permit Submitted")
        hits = receiver.wait_for(3)
        (delivery,) = wait_deliveries(aurora_sim, 1, tenant_id=tenant.tenant_id)
    # Schedule 30 s, 5 min, … times AURORA_SIM_WEBHOOK_TIME_SCALE=0.001 → 0.03 s, then 0.3 s.
    gaps = [b.at - a.at for a, b in itertools.pairwise(hits)]
    assert 0.025 <= gaps[0] < 1.0, gaps
    assert 0.28 <= gaps[1] < 3.0, gaps
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 503, 200]
    assert delivery["status"] == "delivered"
    assert all(a["at"].endswith(" UTC") for a in delivery["attempts"])


def _sleepy(receiver: Receiver) -> None:
    receiver.default_status = 200
    receiver.delay_seconds = 0.5


def test_timeout_counts_as_failure_and_persistent_failure_disables() -> None:
    # A separate instance: tiny time scale so the whole schedule and the 48 h window take seconds.
    with start_aurora_sim(WEBHOOK_TIME_SCALE="0.00001", WEBHOOK_TIMEOUT_SECONDS="0.2") as sim:
        tenant = sim.create_tenant("Failing Solar")
        with webhook_receiver() as slow:
            _sleepy(slow)
            hook = subscribe(sim, tenant, "design_created", f"{slow.url}/slow?d=<DESIGN_ID>")
            sim.http.post(
                f"/_sim/tenants/{tenant.tenant_id}/events",
                json={"event": "design_created", "values": {"DESIGN_ID": "d1"}},
            ).raise_for_status()
            (delivery,) = wait_deliveries(sim, 1, timeout=30, webhook_id=hook["id"])
        assert delivery["status"] == "failed"
        assert len(delivery["attempts"]) == 6  # first try + 5 retries
        assert delivery["attempts"][0]["error"] == "timeout"

        with webhook_receiver() as broken:
            broken.default_status = 500
            hook = subscribe(sim, tenant, "project_created", f"{broken.url}/x?p=<PROJECT_ID>")
            for _ in range(18):
                sim.http.post(
                    f"/_sim/tenants/{tenant.tenant_id}/events",
                    json={"event": "project_created", "values": {"PROJECT_ID": "p"}},
                ).raise_for_status()
            deadline = time.monotonic() + 30
            with sim.api(tenant.api_key) as api:
                while api.get(f"/tenants/{tenant.tenant_id}/webhooks/{hook['id']}").json()["webhook"]["enabled"]:
                    assert time.monotonic() < deadline, "subscription was never auto-disabled"
                    time.sleep(0.05)
            state = sim.http.get("/_sim/webhooks", params={"tenant_id": tenant.tenant_id}).json()["webhooks"]
            assert any(w["id"] == hook["id"] and w["disabled_reason"] for w in state)
            time.sleep(0.3)
            seen = len(broken.received)
            sim.http.post(
                f"/_sim/tenants/{tenant.tenant_id}/events",
                json={"event": "project_created", "values": {"PROJECT_ID": "p"}},
            ).raise_for_status()
            time.sleep(0.3)
            assert len(broken.received) == seen  # a disabled subscription receives nothing
