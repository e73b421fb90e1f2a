"""Event contracts of the pipeline's topics.

The body of every message is the JSON of one of these models; the CloudEvents 1.0 attributes travel in
Kafka headers (`ce_id`, `ce_source`, `ce_type`, `ce_time`, `ce_subject`, `ce_specversion`), following the
CloudEvents Kafka binding in binary mode. Each stage derives its event id from its input's id, so a
redelivered input produces the same ids downstream and every effect can be made idempotent.
"""

from __future__ import annotations

import os
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal, Self

import orjson
from pydantic import BaseModel, ConfigDict, Field

from pipeline_common import topics

# Fixed namespace for deterministic event ids (uuid5 of the input id and the stage name).
EVENT_ID_NAMESPACE = uuid.UUID("6f1f6d2e-8a57-4c52-9a7e-2b1c0d4c9a10")
SPEC_VERSION = "1.0"


def derive_event_id(input_id: str, stage: str) -> str:
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{input_id}:{stage}"))


def utcnow() -> datetime:
    return datetime.now(UTC)


class AuroraEventKind(StrEnum):
    """Aurora webhook events the pipeline understands. Others are accepted and logged, never an error."""

    AGREEMENT_STATUS_CHANGED = "agreement_status_changed"
    PROJECT_STATUS_CHANGED = "project_status_changed"
    PROJECT_CREATED = "project_created"
    DESIGN_CREATED = "design_created"
    MILESTONE_CREATED = "milestone_created"
    ASSET_CREATED = "asset_created"
    PERFORMANCE_SIMULATION_JOB_COMPLETED = "performance_simulation_job_completed"


class ImportReason(StrEnum):
    TRIGGER = "trigger"
    RESYNC = "resync"
    BACKFILL = "backfill"


class ImportAction(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    REPLACED = "replaced"
    SKIPPED = "skipped"


class Contract(BaseModel):
    """Base of every message body: strict on what we write, tolerant of fields added later."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    ce_type: ClassVar[str]
    topic: ClassVar[str]

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        return cls.model_validate(orjson.loads(data))


class WebhookReceived(Contract):
    """An Aurora webhook as the gateway accepted it: only ids and statuses, Aurora's "doorbell"."""

    ce_type: ClassVar[str] = "com.aurorasolar.webhook.received.v1"
    topic: ClassVar[str] = topics.WEBHOOK_RECEIVED

    event_id: str
    integration_id: str
    event: str = Field(description="Aurora's event name, kept verbatim even when unfamiliar")
    aurora_project_id: str | None = None
    agreement_id: str | None = None
    design_id: str | None = None
    financing_id: str | None = None
    status: str | None = None
    params: dict[str, str] = Field(default_factory=dict, description="every query parameter received")
    received_at: datetime


class TriggerRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: str = Field(description="agreement_status_changed, project_status_changed, resync or backfill")
    status: str | None = None


class ImportRequested(Contract):
    ce_type: ClassVar[str] = "com.crm.aurora.import.requested.v1"
    topic: ClassVar[str] = topics.IMPORT_REQUESTED

    event_id: str
    causation_id: str = Field(description="the webhook event id, or the admin request id")
    company_id: str
    integration_id: str
    aurora_tenant_id: str
    aurora_project_id: str
    agreement_id: str | None = None
    design_id: str | None = None
    financing_id: str | None = None
    reason: ImportReason
    trigger: TriggerRef
    backfill_id: str | None = None
    received_at: datetime = Field(description="when the originating webhook or request arrived")


class DocumentRef(BaseModel):
    """A file already stored in the document store; messages carry references, never bytes."""

    model_config = ConfigDict(frozen=True)

    kind: str = Field(description="signed_agreement, design_layout, cad_screenshot, design_dxf, …")
    sha256: str
    file_name: str
    content_type: str
    size: int
    aurora_asset_id: str | None = None


class DocumentNotFetched(BaseModel):
    """A document Aurora has but this fetch could not bring (expired URL, failed job, refused host, ...).

    The import goes on without it; the next import of the project (a re-sync) tries again.
    """

    model_config = ConfigDict(frozen=True)

    kind: str
    file_name: str | None = None
    aurora_asset_id: str | None = Field(default=None, description="asset, agreement or design id it comes from")
    reason: str


class ProjectFetched(Contract):
    ce_type: ClassVar[str] = "com.crm.aurora.project.fetched.v1"
    topic: ClassVar[str] = topics.PROJECT_FETCHED

    event_id: str
    causation_id: str
    company_id: str
    integration_id: str
    aurora_tenant_id: str
    aurora_project_id: str
    aurora_design_id: str | None = None
    design_rule: str | None = Field(default=None, description="why this design was chosen")
    reason: ImportReason
    trigger: TriggerRef
    backfill_id: str | None = None
    snapshot: dict[str, Any] = Field(
        description="Aurora's current state: project, design, summary, pricing, financing, agreement, "
        "proposal, web_proposal, sales_rep — the paths custom mappings point into",
    )
    documents: list[DocumentRef] = Field(default_factory=list)
    agreement_signed_at: datetime | None = Field(
        default=None,
        description="when the snapshot's agreement was first reported signed (the signed webhook's arrival); "
        "Aurora's agreement has no signed_at",
    )
    documents_not_fetched: list[DocumentNotFetched] = Field(
        default_factory=list, description="documents left out of this import, with why"
    )
    received_at: datetime
    fetched_at: datetime


class ProjectImported(Contract):
    """Public contract (schema_version 1): other services consume it; change it only compatibly."""

    ce_type: ClassVar[str] = "com.crm.project.imported.v1"
    topic: ClassVar[str] = topics.PROJECT_IMPORTED

    schema_version: Literal[1] = 1
    event_id: str
    company_id: str
    crm_project_id: str | None = Field(description="null only when the action is skipped without a match")
    aurora_tenant_id: str
    aurora_project_id: str
    aurora_design_id: str | None = None
    action: ImportAction
    trigger: TriggerRef
    changed_fields: list[str] = Field(default_factory=list)
    occurred_at: datetime
    received_at: datetime | None = Field(default=None, description="when the originating webhook arrived")


# W3C trace context of the message being handled (set by the stage runtime from the input's headers), so the
# messages a stage produces continue the same trace: OpenTelemetry-compatible `traceparent` headers.
CURRENT_TRACEPARENT: ContextVar[str | None] = ContextVar("current_traceparent", default=None)


def child_traceparent(parent: str | None) -> str:
    """A new span in the parent's trace (or a new trace): `00-<trace id>-<span id>-01`."""
    parts = parent.split("-") if parent else []
    valid = len(parts) == 4 and len(parts[1]) == 32 and len(parts[2]) == 16
    trace_id = parts[1] if valid else os.urandom(16).hex()
    return f"00-{trace_id}-{os.urandom(8).hex()}-01"


def trace_id_of(traceparent: str | None) -> str | None:
    parts = traceparent.split("-") if traceparent else []
    return parts[1] if len(parts) == 4 else None


def cloudevent_headers(event: Contract, *, event_id: str, source: str, subject: str) -> dict[str, str]:
    return {
        "traceparent": child_traceparent(CURRENT_TRACEPARENT.get()),
        "ce_specversion": SPEC_VERSION,
        "ce_id": event_id,
        "ce_source": source,
        "ce_type": event.ce_type,
        "ce_time": utcnow().isoformat(),
        "ce_subject": subject,
        "content-type": "application/json",
    }
