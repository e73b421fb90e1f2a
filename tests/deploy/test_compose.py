"""docker-compose.yml is valid Compose and describes the same system as deploy/k8s/base."""

from __future__ import annotations

import subprocess
from typing import Any

import yaml

from tests.deploy.manifests import ROOT, build, generated, of_kind
from tests.deploy.services import SERVICES, env_names, must_be_provided

COMPOSE = ROOT / "docker-compose.yml"
INFRASTRUCTURE = {"kafka", "postgres", "aurora_sim"}  # run by the platform (or the emulator), not deployed by us


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_compose_file_validates_against_the_compose_specification() -> None:
    result = subprocess.run(
        [str(ROOT / ".venv/bin/check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    services = compose()["services"]
    for name, service in services.items():
        for needed in service.get("depends_on", {}):
            assert needed in services, f"{name} depends on undefined service {needed}"


def test_compose_runs_the_same_services_commands_settings_and_ports_as_kubernetes() -> None:
    services = compose()["services"]
    docs = build("dev")
    deployments = of_kind(docs, "Deployment")
    jobs = of_kind(docs, "Job")
    ours = {name for name in services if name not in INFRASTRUCTURE}
    assert ours == {d.replace("-", "_") for d in deployments} | {"migrate", "topics"}
    for job, name in (("pipeline-migrate", "migrate"), ("pipeline-topics", "topics")):
        assert services[name]["command"] == jobs[job]["spec"]["template"]["spec"]["containers"][0]["command"]

    config = generated(build("prod"), "ConfigMap", "pipeline-settings")
    secret = generated(docs, "Secret", "pipeline-secrets")
    assert config is not None
    assert secret is not None
    k8s_settings = set(config["data"]) | set(secret["data"])
    for service in SERVICES:
        name = service.name.replace("-", "_")
        main = deployments[service.name]["spec"]["template"]["spec"]["containers"][0]
        assert services[name]["command"] == main["command"], name
        env = services[name]["environment"]
        # The emulator's address is the one setting only Compose has: k8s talks to the real Aurora.
        assert set(env) - {"AURORA_BASE_URL"} == k8s_settings, name
        reads = env_names(service)
        needed = {e for e, info in reads.items() if must_be_provided(info)}
        assert needed <= set(env), f"{name} misses {sorted(needed - set(env))}"
        port = int(env[service.port_setting])
        assert port == main["ports"][0]["containerPort"], name
        for published in services[name].get("ports", []):
            assert published.rsplit(":", 1)[-1] == str(port), f"{name} publishes {published}"
