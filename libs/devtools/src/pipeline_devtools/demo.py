"""`make run`: the whole system on this machine with the emulator as Aurora, one real import end to end.

Starts the emulator and every service (Kafka and PostgreSQL are started by `make infra`), creates a demo
company and an Aurora tenant in the emulator, connects them through the admin API exactly as a company
admin would, signs an agreement in the emulator, waits for the imported CRM project and prints it, then
keeps everything running until Ctrl-C, which stops every process cleanly.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from pipeline_devtools.devstack import REPLICAS_ENV, SERVICES, DevStack, StartError, parse_replicas

ROOT = Path(__file__).resolve().parents[4]


def say(message: str) -> None:
    # A closed stdout (`make run | head`) must not keep the services from being stopped.
    with contextlib.suppress(BrokenPipeError):
        print(f"[run] {message}", flush=True)


def _check(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 300:
        raise SystemExit(f"[run] {what} failed: {response.status_code} {response.text[:500]}")
    return response.json() if response.content else None


def import_one_project(stack: DevStack, operator_token: str, timeout: float = 60.0) -> dict[str, Any]:
    sim = httpx.Client(base_url=stack.url("aurora_sim"), timeout=10)
    admin = httpx.Client(base_url=stack.url("admin"), timeout=30)
    tenant = _check(sim.post("/_sim/tenants", json={"name": "Demo Solar Tenant"}), "creating an Aurora tenant")
    say(f"Aurora (emulator) tenant {tenant['tenant_id']}")
    company = _check(
        admin.post(
            "/v1/companies",
            json={"name": f"Demo Solar {time.strftime('%H:%M:%S')}"},
            headers={"Authorization": f"Bearer {operator_token}"},
        ),
        "creating the demo company",
    )
    key = company["api_key"]
    auth = {"Authorization": f"Bearer {key}"}
    _check(
        admin.post(
            "/v1/integrations/aurora",
            headers=auth,
            json={"tenant_id": tenant["tenant_id"], "bearer_token": tenant["api_key"]},
        ),
        "connecting Aurora",
    )
    say("connected the company to Aurora (credentials verified, webhooks registered, default trigger: signed)")
    workflow = _check(
        admin.post(
            "/v1/workflows",
            headers=auth,
            json={"name": "Residential Solar", "stages": ["Sold", "Site Survey", "Permit", "Install"]},
        ),
        "creating a workflow",
    )
    _check(
        admin.put("/v1/integrations/aurora/workflow", headers=auth, json={"workflow_id": workflow["id"]}),
        "choosing the workflow",
    )
    project = _check(sim.post(f"/_sim/tenants/{tenant['tenant_id']}/projects", json={}), "creating an Aurora project")
    say(f"Aurora project {project['project_id']} created with its agreement in status 'sent'")
    started = time.monotonic()
    _check(
        sim.post(
            f"/_sim/tenants/{tenant['tenant_id']}/agreements/{project['agreement_id']}/status",
            json={"status": "signed"},
        ),
        "signing the agreement",
    )
    say("homeowner signed the agreement in Aurora → webhook → gateway → trigger_filter → fetcher → importer")
    deadline = started + timeout
    while time.monotonic() < deadline:
        page = _check(
            admin.get("/v1/projects", headers=auth, params={"aurora_project_id": project["project_id"]}),
            "listing projects",
        )
        items = page.get("items", page) if isinstance(page, dict) else page
        if items:
            crm = _check(admin.get(f"/v1/projects/{items[0]['id']}", headers=auth), "reading the project")
            crm["_elapsed_ms"] = round((time.monotonic() - started) * 1000)
            crm["_company_key"] = key
            return dict(crm)
        time.sleep(0.2)
    raise SystemExit(f"[run] no imported project after {timeout:.0f}s; see the logs in {stack.log_dir}")


def describe(project: dict[str, Any], stack: DevStack) -> None:
    say(f"imported in {project.pop('_elapsed_ms')} ms — CRM project {project['id']}")
    key = project.pop("_company_key")
    skip = {"custom_values", "line_items", "documents", "contact"}
    width = max(len(k) for k in project)
    for name, value in project.items():
        if name not in skip and value not in (None, "", []):
            print(f"    {name:<{width}}  {value}")
    contact = project.get("contact") or {}
    if contact:
        print("  contact: " + ", ".join(f"{k}={v}" for k, v in contact.items() if v and k != "id"))
    for item in project.get("line_items") or []:
        print(
            f"  line item: {item.get('kind')}: {item.get('quantity')} x {item.get('manufacturer') or ''} "
            f"{item.get('name')} {item.get('amount') or ''}".rstrip()
        )
    for doc in project.get("documents") or []:
        print(f"  document: {doc.get('kind')}: {doc.get('file_name')} ({doc.get('size')} bytes)")
    admin = stack.url("admin")
    print()
    say(f"settings page:   {admin}/            sign in with the company key: {key}")
    say(f"project via API: curl -H 'Authorization: Bearer {key}' {admin}/v1/projects/{project['id']}")
    say(
        f"admin API docs:  {admin}/docs        gateway: {stack.url('gateway')}/docs   "
        f"emulator: {stack.url('aurora_sim')}/docs"
    )
    say(f"service logs:    {stack.log_dir}")


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="make run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--no-demo", action="store_true", help="start everything but import nothing")
    parser.add_argument("--exit", action="store_true", help="stop after the demo import instead of running on")
    parser.add_argument(
        "--replicas",
        default=os.environ.get(REPLICAS_ENV, ""),
        help=f"copies per service, e.g. fetcher=2,importer=2 (default ${REPLICAS_ENV}, else one each)",
    )
    args = parser.parse_args()
    try:
        replicas = parse_replicas(args.replicas)
    except ValueError as exc:
        parser.error(str(exc))
    operator_token = os.environ.get("OPERATOR_TOKEN") or secrets.token_urlsafe(24)
    env = {
        "AURORA_BASE_URL": os.environ.get("AURORA_BASE_URL", "http://127.0.0.1:8090"),
        "OPERATOR_TOKEN": operator_token,
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "json"),
    }
    stack = DevStack(env=env, log_dir=ROOT / ".local" / "logs", replicas=replicas)
    stopping = False

    def on_signal(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    try:
        say("starting " + ", ".join(s.name for s in SERVICES) + " …")
        stack.start(timeout=90)
        for name, service in stack.services.items():
            say(f"  {name:<15} {service.base_url}  (pid {service.process.pid})")
        if not args.no_demo:
            describe(import_one_project(stack, operator_token), stack)
        say(f"operator token for POST /v1/companies: {operator_token}")
        if args.exit:
            return
        say("running; press Ctrl-C to stop everything")
        while not stopping:
            for name, service in list(stack.services.items()):
                if service.process.poll() is not None:
                    say(f"{name} exited ({service.process.returncode}); last log lines:\n{service.log_tail()}")
                    raise SystemExit(1)
            time.sleep(1)
    except StartError as exc:
        say(f"could not start: {exc}")
        sys.exit(1)
    except KeyboardInterrupt:
        pass
    finally:
        say("stopping services …")
        stack.stop_all()
        say("stopped (Kafka and PostgreSQL keep running; `make stop` stops them)")


if __name__ == "__main__":
    main()
