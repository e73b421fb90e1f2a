"""The webhook ingress against the real broker: what is accepted is on Kafka before the 2xx; what is
rejected gets a precise 4xx and publishes nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from gateway.app import create_app
from gateway.settings import GatewaySettings
from pipeline_common import topics, webhooks
from pipeline_common.secrets import WebhookSigner
from pipeline_common.settings import CryptoSettings, DatabaseSettings, KafkaSettings

SIGNING_KEY = "gateway-test-signing-key"


@pytest.fixture(scope="module")
async def gateway(kafka_bootstrap: str, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        GatewaySettings(),
        KafkaSettings(bootstrap_servers=kafka_bootstrap),
        DatabaseSettings(DATABASE_URL=SecretStr(database_url)),  # type: ignore[call-arg]
        CryptoSettings(WEBHOOK_SIGNING_KEYS=SecretStr(SIGNING_KEY)),  # type: ignore[call-arg]
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


def secret_header(integration_id: str, generation: int = 1, key: str = SIGNING_KEY) -> dict[str, str]:
    secret = WebhookSigner([key]).secret_for(integration_id, generation)
    return {webhooks.SECRET_HEADER: webhooks.secret_header_value(generation, secret)}


async def test_accepted_webhook_is_on_kafka_with_its_ids(gateway: httpx.AsyncClient, read_topic: Any) -> None:
    reader = await read_topic(topics.WEBHOOK_RECEIVED)
    integration_id, project_id, agreement_id = (str(uuid.uuid4()) for _ in range(3))
    response = await gateway.get(
        f"/webhooks/aurora/{integration_id}",
        params={
            "event": "agreement_status_changed",
            "project_id": project_id,
            "agreement_id": agreement_id,
            "status": "signed",
            "design_id": "",
            "financing_id": "",
        },
        headers=secret_header(integration_id),
    )
    assert response.status_code == 200, response.text
    event_id = response.json()["event_id"]
    [message] = await reader.take(1, where=lambda m: m["event_id"] == event_id)
    assert message["integration_id"] == integration_id
    assert message["aurora_project_id"] == project_id
    assert message["agreement_id"] == agreement_id
    assert message["status"] == "signed"
    assert message["design_id"] is None  # Aurora sends empty values for absent placeholders
    assert message["_headers"]["ce_id"] == event_id
    assert message["_headers"]["ce_type"] == "com.aurorasolar.webhook.received.v1"


async def test_project_status_with_spaces_is_kept_verbatim(gateway: httpx.AsyncClient, read_topic: Any) -> None:
    reader = await read_topic(topics.WEBHOOK_RECEIVED)
    integration_id = str(uuid.uuid4())
    url = (
        f"/webhooks/aurora/{integration_id}?event=project_status_changed&project_id={uuid.uuid4()}"
        "&status=Project%20Sold"
    )
    response = await gateway.get(url, headers=secret_header(integration_id))
    assert response.status_code == 200
    [message] = await reader.take(1, where=lambda m: m["event_id"] == response.json()["event_id"])
    assert message["status"] == "Project Sold"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_secret"),
        ({webhooks.SECRET_HEADER: "nonsense"}, "missing_secret"),
        ({webhooks.SECRET_HEADER: "v1.wrong"}, "invalid_secret"),
    ],
)
async def test_wrong_or_missing_secret_is_401(gateway: httpx.AsyncClient, headers: dict[str, str], code: str) -> None:
    response = await gateway.get(f"/webhooks/aurora/{uuid.uuid4()}?event=project_created", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code
    assert "v1.wrong" not in response.text


async def test_a_secret_of_one_integration_does_not_open_another(gateway: httpx.AsyncClient) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    response = await gateway.get(f"/webhooks/aurora/{b}?event=project_created", headers=secret_header(a))
    assert response.status_code == 401


async def test_secret_made_with_the_previous_signing_key_is_refused_when_that_key_is_gone(
    gateway: httpx.AsyncClient,
) -> None:
    integration_id = str(uuid.uuid4())
    response = await gateway.get(
        f"/webhooks/aurora/{integration_id}?event=project_created",
        headers=secret_header(integration_id, key="retired-key"),
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", "missing_event"),
        ("event=project_created&surprise=1", "unknown_parameter"),
        ("event=project_created&event=project_created", "repeated_parameter"),
        ("event=project_created&project_id=not-a-uuid", "invalid_id"),
        ("event=project_created&status=" + "x" * 300, "parameter_too_long"),
        (
            "event=project_created&status="
            + "x" * 250
            + "&source="
            + "y" * 250
            + "&asset_type="
            + "z" * 250
            + "&job_id="
            + "w" * 250
            + "&milestone="
            + "v" * 250
            + "&asset_id="
            + "u" * 250
            + "&design_id="
            + "t" * 250
            + "&financing_id="
            + "s" * 250
            + "&agreement_id="
            + "r" * 250,
            "query_too_large",
        ),
    ],
)
async def test_malformed_webhooks_are_400_with_a_reason(gateway: httpx.AsyncClient, query: str, code: str) -> None:
    integration_id = str(uuid.uuid4())
    response = await gateway.get(f"/webhooks/aurora/{integration_id}?{query}", headers=secret_header(integration_id))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code


async def test_non_uuid_integration_is_400(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/webhooks/aurora/../../etc?event=x", headers=secret_header("x"))
    assert response.status_code in (400, 404)
    response = await gateway.get("/webhooks/aurora/not-a-uuid?event=x", headers=secret_header("not-a-uuid"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_integration_id"


async def test_health_and_metrics(gateway: httpx.AsyncClient) -> None:
    assert (await gateway.get("/health/live")).status_code == 200
    ready = await gateway.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"kafka": "ok", "database": "ok"}
    metrics = await gateway.get("/metrics/")
    assert "gateway_webhooks_total" in metrics.text


query_values = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    params=st.dictionaries(
        st.sampled_from(sorted(webhooks.KNOWN_PARAMS | {"x", "token", "callback"})), query_values, max_size=6
    ),
    integration=st.one_of(st.uuids().map(str), st.text(max_size=40)),
    signed=st.booleans(),
)
async def test_fuzzed_webhooks_never_5xx(
    gateway: httpx.AsyncClient, params: dict[str, str], integration: str, signed: bool
) -> None:
    headers = secret_header(integration) if signed else {}
    response = await gateway.get(f"/webhooks/aurora/{quote(integration, safe='')}", params=params, headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        assert signed
        assert params.get("event", "").strip()
