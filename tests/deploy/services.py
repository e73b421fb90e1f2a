"""What each deployed service is in the code: its console script, the settings it reads, its stage."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from admin.settings import AdminSettings
from fetcher import fetch
from fetcher.settings import FetcherSettings
from gateway.settings import GatewaySettings
from importer import writer
from importer.settings import ImporterSettings
from pipeline_common import topics
from pipeline_common.aurora.settings import AuroraSettings
from pipeline_common.settings import CryptoSettings, DatabaseSettings, KafkaSettings, ServiceSettings
from trigger_filter import app as trigger_filter_app
from trigger_filter.settings import TriggerFilterSettings

COMMON: tuple[type[BaseSettings], ...] = (ServiceSettings, KafkaSettings, DatabaseSettings)


@dataclass(frozen=True)
class DeployedService:
    name: str  # the Deployment's name
    script: str  # console script in the image
    module: str  # where the script's entry point lives
    settings: tuple[type[BaseSettings], ...]
    port_setting: str
    stage: str | None = None
    input_topic: str | None = None


SERVICES = (
    DeployedService(
        "gateway",
        "aurora-gateway",
        "gateway.__main__",
        (GatewaySettings, CryptoSettings, *COMMON),
        "GATEWAY_PORT",
    ),
    DeployedService("admin", "aurora-admin", "admin.__main__", (AdminSettings,), "ADMIN_PORT"),
    DeployedService(
        "trigger-filter",
        "aurora-trigger-filter",
        "trigger_filter.__main__",
        (TriggerFilterSettings, *COMMON),
        "TRIGGER_FILTER_PORT",
        trigger_filter_app.STAGE,
        topics.WEBHOOK_RECEIVED,
    ),
    DeployedService(
        "fetcher",
        "aurora-fetcher",
        "fetcher.__main__",
        (FetcherSettings, AuroraSettings, CryptoSettings, *COMMON),
        "FETCHER_PORT",
        fetch.STAGE,
        topics.IMPORT_REQUESTED,
    ),
    DeployedService(
        "importer",
        "aurora-importer",
        "importer.__main__",
        (ImporterSettings, *COMMON),
        "IMPORTER_PORT",
        writer.STAGE,
        topics.PROJECT_FETCHED,
    ),
)


def unprefixed(topic: str) -> str:
    """Topic names as deployed: the test session's own prefix (tests/conftest.py) removed."""
    return topic.removeprefix(topics.PREFIX)


def settings_fields(cls: type[BaseSettings]) -> Iterator[tuple[str, FieldInfo]]:
    """(environment variable, field) for every setting the class reads, nested settings included."""
    prefix = str(cls.model_config.get("env_prefix") or "")
    for name, info in cls.model_fields.items():
        nested = info.annotation
        if isinstance(nested, type) and issubclass(nested, BaseSettings):
            yield from settings_fields(nested)
            continue
        alias = info.validation_alias if isinstance(info.validation_alias, str) else prefix + name
        yield alias.upper(), info


def must_be_provided(info: FieldInfo) -> bool:
    """A setting whose default only works on a developer's machine: a loopback address or a secret."""
    default: Any = info.default
    secret = "SecretStr" in repr(info.annotation)
    return secret or (isinstance(default, str) and "127.0.0.1" in default)


def env_names(service: DeployedService) -> dict[str, FieldInfo]:
    return {env: info for cls in service.settings for env, info in settings_fields(cls)}
