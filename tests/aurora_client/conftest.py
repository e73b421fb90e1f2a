"""Shared setup for the Aurora client's unit tests (respx-mocked; no network)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import SecretStr

from pipeline_common.aurora import AuroraCall, AuroraClient, AuroraCredentials, AuroraSettings

BASE = "https://aurora.test"
TOKEN = "sk_sand_TOPSECRET_0123456789abcdef"
TENANT = "tenant-1"
CREDS = AuroraCredentials(tenant_id=TENANT, token=SecretStr(TOKEN))
API = f"{BASE}/tenants/{TENANT}"


@dataclass
class Harness:
    client: AuroraClient
    sleeps: list[float] = field(default_factory=list)
    calls: list[AuroraCall] = field(default_factory=list)


@pytest.fixture
async def make_harness() -> AsyncIterator[Callable[..., Harness]]:
    """Clients whose backoff sleeps are recorded instead of slept, and whose jitter is the full ceiling."""
    made: list[Harness] = []

    def factory(**settings: Any) -> Harness:
        defaults: dict[str, Any] = {
            "base_url": BASE,
            "max_retries": 3,
            "retry_base_delay": 0.5,
            "download_allowed_hosts": "*.aurorasolar.com,files.test",
        }
        harness = Harness(client=None)  # type: ignore[arg-type]

        async def record_sleep(delay: float) -> None:
            harness.sleeps.append(delay)

        harness.client = AuroraClient(
            AuroraSettings(**(defaults | settings)),
            sleep=record_sleep,
            jitter=lambda: 1.0,
            on_call=harness.calls.append,
        )
        made.append(harness)
        return harness

    yield factory
    for harness in made:
        await harness.client.aclose()


@pytest.fixture
async def harness(make_harness: Callable[..., Harness]) -> Harness:
    return make_harness()
