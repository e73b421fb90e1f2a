"""deploy/k8s, checked offline: every overlay builds, validates strictly against Kubernetes' and KEDA's
schemas, and says what the code does (topics, consumer groups, ports, probes, settings)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from importlib.metadata import entry_points
from typing import Any

import asyncpg
import kubernetes_validate
import pytest

from pipeline_common import topics
from pipeline_common.settings import KafkaSettings
from pipeline_common.stage import RetryRelay, Stage
from pipeline_common.topic_provisioning import topic_specs
from tests.deploy.manifests import K8S, OVERLAYS, build, generated, of_kind
from tests.deploy.services import SERVICES, env_names, must_be_provided, unprefixed

KUBERNETES_VERSION = "1.32.0"
# Kinds from operators; their schemas are not Kubernetes' own (KEDA's is checked below, the others by
# the semantic tests).
CUSTOM_KINDS = {"ScaledObject", "KafkaTopic", "KafkaUser", "PodMonitor", "ExternalSecret"}


def settings_data(docs: tuple[dict[str, Any], ...]) -> dict[str, str]:
    config = generated(docs, "ConfigMap", "pipeline-settings")
    assert config is not None, "no pipeline-settings ConfigMap"
    return dict(config["data"])


def deployment(docs: tuple[dict[str, Any], ...], name: str) -> dict[str, Any]:
    found = of_kind(docs, "Deployment")
    assert name in found, f"no Deployment {name}"
    return found[name]


def container(dep: dict[str, Any]) -> dict[str, Any]:
    (only,) = dep["spec"]["template"]["spec"]["containers"]
    return dict(only)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_validates_strictly_against_kubernetes_schemas(overlay: str) -> None:
    errors = []
    for doc in build(overlay):
        if doc["kind"] in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.path)}")
    assert not errors, "\n".join(errors)


def test_keda_resources_validate_against_kedas_crd_schema() -> None:
    checker = K8S / "checks"
    if not (checker / "node_modules" / "@kubernetes-models" / "keda").is_dir():
        pytest.fail(
            "KEDA's schema package is not installed: run `make test` (or `npm ci --prefix deploy/k8s/checks`)",
            pytrace=False,
        )
    docs = [d for overlay in OVERLAYS for d in build(overlay)]
    result = subprocess.run(
        ["node", str(checker / "validate-keda.mjs")],
        input=json.dumps(docs),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=checker,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["checked"] == 3  # trigger-filter, fetcher, importer


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_runs_its_own_script_on_the_port_it_reads_with_probes_on_its_health_paths(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = build(overlay)
    config = settings_data(docs)
    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    for service in SERVICES:
        dep = deployment(docs, service.name)
        main = container(dep)
        assert main["command"] == [service.script]
        assert scripts.get(service.script) == f"{service.module}:main", f"{service.script} is not {service.module}"
        port = int(config[service.port_setting])
        assert main["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}], service.name
        probes = {kind: main[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
        assert probes == {
            "startupProbe": {"path": "/health/live", "port": "http"},
            "livenessProbe": {"path": "/health/live", "port": "http"},
            "readinessProbe": {"path": "/health/ready", "port": "http"},
        }, service.name
        assert main["resources"]["requests"], service.name
        assert main["resources"]["limits"], service.name
        # Longer than the slowest message the service may be holding when asked to stop.
        assert dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 30, service.name
        (gate,) = dep["spec"]["template"]["spec"]["initContainers"]
        assert gate["command"] == ["pipeline-topics", "--check"], f"{service.name} may start before its topics"
        assert scripts.get("pipeline-topics") == "pipeline_common.topic_provisioning:main"
        pdb = of_kind(docs, "PodDisruptionBudget")[service.name]
        assert pdb["spec"] == {"maxUnavailable": 1, "selector": dep["spec"]["selector"]}
        # The settings the process would build from this environment listen where the probes knock.
        for env, value in config.items():
            monkeypatch.setenv(env, value)
        for cls in service.settings:
            built = cls()
            if hasattr(built, "port"):
                assert built.port == port, f"{service.name}: {cls.__name__}.port"
    services = of_kind(docs, "Service")
    assert set(services) == {"gateway", "admin"}
    for name in services:
        assert services[name]["spec"]["ports"][0]["targetPort"] == "http"


def test_the_apps_serve_the_probed_paths() -> None:
    from trigger_filter.app import create_app as trigger_filter_app

    routes = {path for path, _ in trigger_filter_app().routes}
    assert {"/health/live", "/health/ready", "/metrics"} <= routes

    from gateway.app import create_app as gateway_app
    from gateway.settings import GatewaySettings

    paths = {getattr(r, "path", None) for r in gateway_app(GatewaySettings()).routes}
    assert {"/health/live", "/health/ready", "/metrics"} <= paths

    from admin.app import create_app as admin_app
    from admin.settings import AdminSettings

    paths = {getattr(r, "path", None) for r in admin_app(AdminSettings()).routes}
    assert {"/health/live", "/health/ready", "/metrics"} <= paths


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_setting_a_service_needs_is_provided_and_none_is_misspelt(overlay: str) -> None:
    docs = build(overlay)
    config = settings_data(docs)
    read_by_any: set[str] = set()
    for service in SERVICES:
        reads = env_names(service)
        read_by_any |= set(reads)
        main = container(deployment(docs, service.name))
        explicit = {e["name"]: e for e in main.get("env", [])}
        for name, e in explicit.items():
            assert name in reads, f"{service.name} is given {name}, which none of its settings reads"
            ref = e["valueFrom"]["secretKeyRef"]
            assert ref["key"] == name, name
            assert ref["name"].startswith("pipeline-secrets"), name
        provided = set(config) | set(explicit)
        needed = {env for env, info in reads.items() if must_be_provided(info)}
        assert needed <= provided, f"{service.name} misses {sorted(needed - provided)}"
        assert config["BIND_HOST"] == "0.0.0.0"
    unread = set(config) - read_by_any - {"KAFKA_TOPIC_REPLICATION_FACTOR", "KAFKA_TOPIC_MIN_INSYNC_REPLICAS"}
    unread -= {env for env in config if env.startswith("KAFKA_TOPIC_")}
    assert not unread, f"settings no service reads: {sorted(unread)}"
    # The secret the overlay supplies has every key a container references.
    referenced = {
        e["valueFrom"]["secretKeyRef"]["key"]
        for d in docs
        if d["kind"] in ("Deployment", "Job")
        for c in d["spec"]["template"]["spec"]["containers"]
        for e in c.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    secret = generated(docs, "Secret", "pipeline-secrets")
    external = of_kind(docs, "ExternalSecret").get("pipeline-secrets")
    supplied = (
        set(secret["data"]) if secret else {d["secretKey"] for d in external["spec"]["data"]} if external else set()
    )
    assert referenced <= supplied, f"overlays/{overlay} does not supply {sorted(referenced - supplied)}"


def _stage_groups(stage: str, input_topic: str) -> tuple[str, str]:
    """The consumer groups the code builds for a stage and its retry relay (with no KAFKA_GROUP_PREFIX)."""
    from faststream.kafka import KafkaBroker

    from pipeline_common.events import Contract

    async def handler(event: Any, headers: dict[str, str]) -> None:
        return None

    broker = KafkaBroker()
    default_prefix = KafkaSettings.model_fields["group_prefix"].default
    built: Stage[Any] = Stage(
        name=stage,
        broker=broker,
        input_topic=input_topic,
        contract=Contract,
        handler=handler,
        group_prefix=default_prefix,
    )
    relay = RetryRelay(bootstrap_servers="unused", input_topic=input_topic, group_id=built.group_id, broker=broker)
    return built.group_id, relay.group_id


def test_keda_scales_each_stage_on_the_group_and_topics_the_code_uses_within_the_partitions() -> None:
    docs = build("prod")
    config = settings_data(docs)
    partitions = int(config["KAFKA_TOPIC_PARTITIONS"])
    kafka_topics = {t["spec"]["topicName"]: t for t in of_kind(docs, "KafkaTopic").values()}
    scaled = of_kind(docs, "ScaledObject")
    consumers = [s for s in SERVICES if s.stage]
    assert set(scaled) == {s.name for s in consumers}
    for service in consumers:
        assert service.stage is not None
        assert service.input_topic is not None
        obj = scaled[service.name]
        assert obj["spec"]["scaleTargetRef"]["name"] == service.name
        assert obj["spec"]["maxReplicaCount"] <= partitions
        group, relay_group = _stage_groups(service.stage, service.input_topic)
        topic = unprefixed(service.input_topic)
        kafka = {
            (t["metadata"]["consumerGroup"], t["metadata"]["topic"])
            for t in obj["spec"]["triggers"]
            if t["type"] == "kafka"
        }
        for _, name in kafka:
            assert obj["spec"]["maxReplicaCount"] <= kafka_topics[name]["spec"]["partitions"], name
        if service.name == "fetcher":
            # Its Kafka lag stays ~0 by design: the queue of companies with due work is what scales it.
            assert [t["type"] for t in obj["spec"]["triggers"]].count("postgresql") == 1
            assert (group, topic) in kafka
        else:
            assert kafka == {(group, topic), (relay_group, topics.retry_topic(topic))}, service.name
        for trigger in obj["spec"]["triggers"]:
            assert trigger["metadata"].get("bootstrapServersFromEnv", "KAFKA_BOOTSTRAP_SERVERS") in config


def test_the_fetchers_scaling_query_runs_against_the_real_schema(database_url: str) -> None:
    (trigger,) = [
        t for t in of_kind(build("prod"), "ScaledObject")["fetcher"]["spec"]["triggers"] if t["type"] == "postgresql"
    ]

    async def run() -> Any:
        conn = await asyncpg.connect(database_url)
        try:
            return await conn.fetchval(trigger["metadata"]["query"])
        finally:
            await conn.close()

    assert asyncio.run(run()) == 0


def test_strimzi_has_a_kafka_topic_for_every_topic_as_pipeline_topics_would_create_it() -> None:
    docs = build("prod")
    config = settings_data(docs)
    declared = {t["spec"]["topicName"]: t["spec"] for t in of_kind(docs, "KafkaTopic").values()}
    assert set(declared) == {unprefixed(t) for t in topics.every_topic()}
    kafka = KafkaSettings(
        **{k.removeprefix("KAFKA_").lower(): v for k, v in config.items() if k.startswith("KAFKA_TOPIC_")}
    )
    for spec in topic_specs(kafka):
        found = declared[unprefixed(spec.name)]
        assert found["replicas"] == 3
        assert str(found["config"]["min.insync.replicas"]) == "2"
        assert (found["partitions"], found["replicas"]) == (spec.partitions, spec.replication_factor)
        assert {k: str(v) for k, v in found["config"].items()} == spec.configs
    for topic in of_kind(docs, "KafkaTopic").values():
        assert topic["apiVersion"] == "kafka.strimzi.io/v1"
    # Under Strimzi the topics Job only checks what the Topic Operator made.
    job = of_kind(docs, "Job")["pipeline-topics"]
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["pipeline-topics", "--check"]


def test_each_service_has_a_kafka_user_limited_to_its_own_topics_and_groups() -> None:
    docs = build("prod")
    users = of_kind(docs, "KafkaUser")
    assert {s.name for s in SERVICES} <= set(users)
    every = {unprefixed(t) for t in topics.every_topic()}
    for service in SERVICES:
        acls = users[service.name]["spec"]["authorization"]["acls"]
        named = {a["resource"]["name"] for a in acls if a["resource"]["type"] == "topic"}
        assert named <= every, f"{service.name}: ACLs on unknown topics {named - every}"
        assert all("All" not in a["operations"] for a in acls), service.name
        if service.stage and service.input_topic:
            group, relay_group = _stage_groups(service.stage, service.input_topic)
            groups = [a["resource"] for a in acls if a["resource"]["type"] == "group"]
            assert groups == [{"type": "group", "name": group, "patternType": "prefix"}]
            assert relay_group.startswith(group)
            reads = {a["resource"]["name"] for a in acls if "Read" in a["operations"]}
            assert unprefixed(service.input_topic) in reads
            assert topics.retry_topic(unprefixed(service.input_topic)) in reads


def test_network_policies_deny_by_default_and_open_only_what_each_service_needs() -> None:
    docs = build("prod")
    policies = of_kind(docs, "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    ingress_to = {
        p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
        for p in policies.values()
        if "Ingress" in p["spec"]["policyTypes"]
        and p["spec"].get("ingress")
        and not p["spec"]["ingress"][0].get("from")
    }
    assert ingress_to == {"gateway", "admin"}
    https = [
        p
        for p in policies.values()
        if any(port.get("port") == 443 for e in p["spec"].get("egress", []) for port in e.get("ports", []))
    ]
    assert len(https) == 1
    (expr,) = https[0]["spec"]["podSelector"]["matchExpressions"]
    assert sorted(expr["values"]) == ["admin", "fetcher"]


def test_prometheus_scrapes_every_service_metrics() -> None:
    docs = build("prod")
    (monitor,) = of_kind(docs, "PodMonitor").values()
    selector = monitor["spec"]["selector"]["matchLabels"]
    for service in SERVICES:
        labels = deployment(docs, service.name)["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), service.name
    assert monitor["spec"]["podMetricsEndpoints"] == [{"port": "http", "path": "/metrics", "interval": "15s"}]


def test_secrets_are_referenced_not_committed() -> None:
    prod = build("prod")
    assert generated(prod, "Secret", "pipeline-secrets") is None
    assert "pipeline-secrets" in of_kind(prod, "ExternalSecret")
