"""Request and response bodies of the integration routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator

from pipeline_common.mapping_catalog import AuroraFieldType, PropertyType
from pipeline_common.vocabulary import AgreementStatus, IntegrationStatus, MatchingStrategy, TriggerKind

DEFAULT_TRIGGERS: list[dict[str, Any]] = [
    {"kind": TriggerKind.AGREEMENT_STATUS_CHANGED.value, "statuses": [AgreementStatus.SIGNED.value]}
]


def _check_token(value: SecretStr) -> SecretStr:
    raw = value.get_secret_value().strip()
    if not raw:
        raise ValueError("must not be blank")
    if any(c.isspace() for c in raw) or len(raw) > 500:
        raise ValueError("does not look like an Aurora API key")
    return SecretStr(raw)


AuroraToken = Annotated[SecretStr, AfterValidator(_check_token)]


class ConnectRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"tenant_id": "7c0e2d4a-9d4e-4bb8-8f62-0c1b2f7d3e55", "bearer_token": "sk_sand_…"}]
        }
    )

    tenant_id: str = Field(min_length=1, max_length=200, description="Aurora tenant (organization) id")
    bearer_token: AuroraToken = Field(
        description="Aurora API key; sandbox keys start with sk_sand_/rk_sand_. Stored encrypted, never returned."
    )

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value


class TokenReplace(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"bearer_token": "sk_sand_…(new key)"}]})

    bearer_token: AuroraToken


class TriggerRule(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"kind": "agreement_status_changed", "statuses": ["signed"]},
                {"kind": "project_status_changed", "statuses": ["Permit Submitted"]},
            ]
        },
    )

    kind: TriggerKind
    statuses: list[str] = Field(
        description="agreement_status_changed: any of sent, viewed, signed. project_status_changed: one or "
        "more of the tenant's status names (free text, matched trimmed and case-insensitively)."
    )

    @field_validator("statuses")
    @classmethod
    def _statuses(cls, value: list[str]) -> list[str]:
        cleaned = [" ".join(s.split()) for s in value]
        if not cleaned:
            raise ValueError("at least one status is required")
        if any(not s for s in cleaned):
            raise ValueError("statuses must not be blank")
        if any(len(s) > 200 for s in cleaned):
            raise ValueError("a status has at most 200 characters")
        seen: set[str] = set()
        unique = []
        for s in cleaned:
            if s.casefold() not in seen:
                seen.add(s.casefold())
                unique.append(s)
        return unique


class TriggersUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "triggers": [
                        {"kind": "agreement_status_changed", "statuses": ["signed"]},
                        {"kind": "project_status_changed", "statuses": ["Design Ready"]},
                    ]
                }
            ]
        },
    )

    triggers: list[TriggerRule]


class Subscription(BaseModel):
    event: str
    aurora_webhook_id: str


class TriggersOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "triggers": [{"kind": "agreement_status_changed", "statuses": ["signed"]}],
                    "subscriptions": [{"event": "agreement_status_changed", "aurora_webhook_id": "wh_1…"}],
                }
            ]
        }
    )

    triggers: list[TriggerRule]
    subscriptions: list[Subscription]


class WorkflowRef(BaseModel):
    id: uuid.UUID
    name: str


class Counters(BaseModel):
    imported: int
    skipped: int
    failed: int
    last_event_at: datetime | None


class IntegrationOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "1e2d…",
                    "status": "active",
                    "status_reason": None,
                    "environment": "sandbox",
                    "tenant_id": "7c0e2d4a-9d4e-4bb8-8f62-0c1b2f7d3e55",
                    "token_hint": "sk_sand",
                    "webhook_url": "https://hooks.example.com/webhooks/aurora/1e2d…",
                    "triggers": [{"kind": "agreement_status_changed", "statuses": ["signed"]}],
                    "subscriptions": [{"event": "agreement_status_changed", "aurora_webhook_id": "wh_1…"}],
                    "workflow": {"id": "5d7c…", "name": "Residential solar"},
                    "matching_strategy": "enrich",
                    "counters": {"imported": 12, "skipped": 1, "failed": 0, "last_event_at": "2026-01-05T10:00:00Z"},
                    "connected_at": "2026-01-05T09:00:00Z",
                    "disconnected_at": None,
                }
            ]
        }
    )

    id: uuid.UUID
    status: IntegrationStatus
    status_reason: str | None
    environment: Literal["sandbox", "production"]
    tenant_id: str
    token_hint: str = Field(description="The key's kind and environment only (e.g. sk_sand); never the key")
    webhook_url: str
    triggers: list[TriggerRule]
    subscriptions: list[Subscription]
    workflow: WorkflowRef | None
    matching_strategy: MatchingStrategy
    counters: Counters
    connected_at: datetime
    disconnected_at: datetime | None


class WorkflowUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"workflow_id": "5d7c…"}]})

    workflow_id: uuid.UUID | None = Field(
        description="A workflow of this company, or null: projects are then created without a workflow"
    )


class StrategyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"strategy": "enrich"}]})

    strategy: MatchingStrategy


class StandardMappingOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "target": "project.system_size_kw",
                    "source": "design.summary.system_size_stc / 1000",
                    "type": "number",
                    "description": "System size in kW (Aurora reports STC watts)",
                }
            ]
        }
    )

    target: str
    source: str
    type: str
    description: str


class AuroraFieldOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "path": "design.summary.energy_production.annual",
                    "type": "number",
                    "description": "Annual production in kWh",
                    "example": 12650.0,
                    "compatible_property_types": ["number"],
                }
            ]
        }
    )

    path: str
    type: AuroraFieldType
    description: str
    example: Any = None
    compatible_property_types: list[PropertyType]


class CustomMappingCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"custom_property_id": "9a1f…", "aurora_path": "design.summary.energy_production.annual"}]
        },
    )

    custom_property_id: uuid.UUID
    aurora_path: str = Field(min_length=1, max_length=300)


class CustomMappingOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "b3c1…",
                    "custom_property_id": "9a1f…",
                    "property_key": "annual_production",
                    "property_name": "Annual production (kWh)",
                    "property_type": "number",
                    "aurora_path": "design.summary.energy_production.annual",
                    "aurora_type": "number",
                    "created_at": "2026-01-05T10:00:00Z",
                }
            ]
        }
    )

    id: uuid.UUID
    custom_property_id: uuid.UUID
    property_key: str
    property_name: str
    property_type: PropertyType
    aurora_path: str
    aurora_type: AuroraFieldType | None
    created_at: datetime


class LogEntry(BaseModel):
    id: int
    event_id: str | None
    kind: str
    aurora_project_id: str | None
    crm_project_id: uuid.UUID | None
    action: str | None
    message: str
    details: dict[str, Any]
    created_at: datetime


class LogPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": 42,
                            "event_id": "5b1c…",
                            "kind": "import",
                            "aurora_project_id": "3fa85f64-…",
                            "crm_project_id": "7f3e…",
                            "action": "created",
                            "message": "project created",
                            "details": {},
                            "created_at": "2026-01-05T10:00:00Z",
                        }
                    ],
                    "next_before": 42,
                }
            ]
        }
    )

    items: list[LogEntry]
    next_before: int | None = Field(description="Pass as `before` for older entries; null when there are none")


class ResyncRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"aurora_project_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6"}]}
    )

    aurora_project_id: str = Field(min_length=1, max_length=200)


class ResyncAccepted(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"event_id": "0f9e…", "aurora_project_id": "3fa85f64-…", "republished_parked": 0}]
        }
    )

    event_id: str
    aurora_project_id: str
    republished_parked: int = Field(
        description="imports of this project parked earlier (e.g. rejected token) that resume with the re-sync"
    )


class DisconnectOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "disconnected", "subscriptions_deleted": 1, "subscriptions_not_deleted": []}]
        }
    )

    status: Literal["disconnected"]
    subscriptions_deleted: int
    subscriptions_not_deleted: list[str] = Field(description="Aurora webhook ids that could not be deleted")
