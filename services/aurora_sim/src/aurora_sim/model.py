"""In-memory domain objects and their Aurora 2024.05 wire shapes (README table)."""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aurora_sim.clock import fmt


@dataclass(slots=True)
class Tenant:
    id: str
    name: str
    created_at: datetime
    rate_limit_per_minute: int | None = None

    def to_api(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "created_at": fmt(self.created_at)}


@dataclass(slots=True)
class ApiKey:
    token: str
    tenant_id: str
    kind: str  # standard | restricted
    operations: frozenset[str]
    created_at: datetime

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.token)


def fingerprint(token: str) -> str:
    """Identifies a key in logs without revealing it: prefix, last 4 characters, short hash."""
    parts = token.split("_")
    prefix = "_".join(parts[:2]) + "_" if len(parts) > 2 else ""
    digest = hashlib.sha256(token.encode()).hexdigest()[:8]
    return f"{prefix}…{token[-4:]}#{digest}"


@dataclass(slots=True)
class User:
    id: str
    tenant_id: str
    first_name: str
    last_name: str
    email: str
    phone: str
    title: str
    role_id: str
    team_ids: list[str]
    partner_ids: list[str]
    account_status: str = "active"

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
            "phone": self.phone,
            "title": self.title,
            "account_status": self.account_status,
            "role_id": self.role_id,
            "team_ids": list(self.team_ids),
            "partner_ids": list(self.partner_ids),
        }


PROJECT_FIELDS = (
    "name",
    "external_provider_id",
    "status",
    "tags",
    "project_type",
    "customer_salutation",
    "customer_first_name",
    "customer_last_name",
    "customer_email",
    "customer_phone",
    "mailing_address",
    "owner_id",
    "team_id",
    "partner_id",
    "created_from_lead_id",
    "order_id",
    "ahj_id",
    "preferred_solar_modules",
    "location",
)


@dataclass(slots=True)
class Project:
    id: str
    tenant_id: str
    seq: int
    created_at: datetime
    # Every 2024.05 field other than id/created_at; a dict because the control API may override any of them.
    data: dict[str, Any]
    design_ids: list[str] = field(default_factory=list)
    asset_ids: list[str] = field(default_factory=list)
    consumption_profile: dict[str, Any] | None = None

    @property
    def sort_key(self) -> tuple[datetime, int]:
        return (self.created_at, self.seq)

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id}
        for name in PROJECT_FIELDS:
            out[name] = self.data.get(name)
        out["created_at"] = fmt(self.created_at)
        return out


@dataclass(slots=True)
class Design:
    id: str
    tenant_id: str
    project_id: str
    name: str
    external_provider_id: str | None
    created_at: datetime
    system_size_stc: float
    system_size_ptc: float
    system_size_ac: float
    bill_of_materials: list[dict[str, Any]]
    arrays: list[dict[str, Any]]
    string_inverters: list[dict[str, Any]]
    storage_inverters: list[dict[str, Any]]
    batteries: list[dict[str, Any]]
    energy_production: dict[str, Any] | None
    pricing: dict[str, Any] | None
    proposal_id: str
    proposal_template_id: str
    web_proposal_token: str
    milestone: tuple[str, datetime] | None = None
    financing_ids: list[str] = field(default_factory=list)
    asset_ids: list[str] = field(default_factory=list)

    def milestone_api(self) -> dict[str, Any] | None:
        if self.milestone is None:
            return None
        return {"milestone": self.milestone[0], "created_at": fmt(self.milestone[1])}

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "external_provider_id": self.external_provider_id,
            "name": self.name,
            "project_id": self.project_id,
            "created_at": fmt(self.created_at),
            "system_size_stc": self.system_size_stc,
            "system_size_ptc": self.system_size_ptc,
            "system_size_ac": self.system_size_ac,
            "milestone": self.milestone_api(),
        }

    def summary_api(self) -> dict[str, Any]:
        return {
            "design_id": self.id,
            "project_id": self.project_id,
            "external_provider_id": self.external_provider_id,
            "created_at": fmt(self.created_at),
            "system_size_stc": self.system_size_stc,
            "system_size_ptc": self.system_size_ptc,
            "system_size_ac": self.system_size_ac,
            "bill_of_materials": [dict(item) for item in self.bill_of_materials],
            "arrays": [dict(item) for item in self.arrays],
            "string_inverters": [dict(item) for item in self.string_inverters],
            "storage_inverters": [dict(item) for item in self.storage_inverters],
            "batteries": [dict(item) for item in self.batteries],
            "energy_production": dict(self.energy_production) if self.energy_production else None,
        }

    def pricing_api(self) -> dict[str, Any]:
        if self.pricing is None:
            return {
                "system_price": 0,
                "price_per_watt": 0,
                "system_cost": 0,
                "system_cost_breakdown": [],
                "storage_system_cost_breakdown": [],
            }
        return {
            key: ([dict(c, items=[dict(i) for i in c["items"]]) for c in value] if isinstance(value, list) else value)
            for key, value in self.pricing.items()
        }


@dataclass(slots=True)
class Financing:
    id: str
    tenant_id: str
    project_id: str
    design_id: str
    name: str
    financing_option: str
    selected_in_sales_mode: bool
    system_price: float
    monthly_payment: float | None
    loan_principal: float | None
    down_payment: float | None
    financier: dict[str, Any] | None
    up_to_date: bool = True

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "project_id": self.project_id,
            "design_id": self.design_id,
            "selected_in_sales_mode": self.selected_in_sales_mode,
            "financing_option": self.financing_option,
            "system_price": self.system_price,
            "monthly_payment": self.monthly_payment,
            "loan_principal": self.loan_principal,
            "down_payment": self.down_payment,
            "financier": dict(self.financier) if self.financier else None,
            "up_to_date": self.up_to_date,
        }


@dataclass(slots=True)
class Agreement:
    id: str
    tenant_id: str
    project_id: str
    design_id: str
    financing_id: str | None
    agreement_template_name: str
    status: str
    signing_provider: str
    created_at: datetime
    sent_at: datetime | None
    last_viewed_at: datetime | None
    error_message: str | None = None
    signed_document_file_id: str | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project_id": self.project_id,
            "design_id": self.design_id,
            "financing_id": self.financing_id,
            "agreement_template_name": self.agreement_template_name,
            "status": self.status,
            "signing_provider": self.signing_provider,
            "created_at": fmt(self.created_at),
            "sent_at": fmt(self.sent_at),
            "last_viewed_at": fmt(self.last_viewed_at),
            "error_message": self.error_message,
        }


@dataclass(slots=True)
class Asset:
    id: str
    tenant_id: str
    project_id: str
    design_id: str | None
    asset_type: str
    file_name: str
    content_type: str
    created_at: datetime
    file_id: str

    def to_api(self, url: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "asset_type": self.asset_type,
            "design_id": self.design_id,
            "project_id": self.project_id,
            "file_name": self.file_name,
            "content_type": self.content_type,
            "created_at": fmt(self.created_at),
            "url": url,
        }


@dataclass(slots=True)
class StoredFile:
    """Bytes are rendered lazily: bulk-generated projects should not pay for files nobody downloads."""

    id: str
    kind: str  # layout_pdf | screenshot_png | dxf | agreement_pdf | proposal_pdf
    file_name: str
    content_type: str
    context: dict[str, Any]


@dataclass(slots=True)
class DownloadJob:
    job_id: str
    tenant_id: str
    agreement_id: str
    project_id: str
    design_id: str
    requested_at: datetime
    status_reads: int = 0
    completed_at: datetime | None = None
    file_id: str | None = None

    def to_api(self, status: str, file_url: str | None) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "requested_at": fmt(self.requested_at),
            "completed_at": fmt(self.completed_at),
            "status": status,
            "file_url": file_url,
            "project_id": self.project_id,
            "design_id": self.design_id,
            "error": None,
        }


@dataclass(slots=True)
class ProposalPdfJob:
    """A *Run Proposal PDF Generation* job (modeled on the agreement download job; README)."""

    job_id: str
    tenant_id: str
    design_id: str
    project_id: str
    requested_at: datetime
    # Chosen when the job starts, from the tenant's faults: succeed, fail, or stall (never completes).
    outcome: str = "succeed"
    status_reads: int = 0
    completed_at: datetime | None = None
    file_id: str | None = None

    def to_api(self, status: str, file_url: str | None, error: str | None = None) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "requested_at": fmt(self.requested_at),
            "completed_at": fmt(self.completed_at),
            "status": status,
            "file_url": file_url,
            "project_id": self.project_id,
            "design_id": self.design_id,
            "error": error,
        }


@dataclass(slots=True)
class Webhook:
    id: str
    tenant_id: str
    event: str
    url_template: str
    description: str | None
    enabled: bool
    header_auth_key: str | None
    header_auth_value: str | None
    created_at: datetime
    # Consecutive failed attempts and when that failing streak began (monotonic seconds) — auto-disable.
    failed_attempts: int = 0
    failing_since: float | None = None
    disabled_reason: str | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event": self.event,
            "url_template": self.url_template,
            "description": self.description,
            "enabled": self.enabled,
            "header_auth_key": self.header_auth_key,
            "created_at": fmt(self.created_at),
        }
