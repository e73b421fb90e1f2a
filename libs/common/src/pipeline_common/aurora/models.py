"""Typed views of the Aurora responses the pipeline reads.

Aurora adds response fields and enum values without a version bump, so every model keeps unknown fields
(`extra="allow"`), enum-like fields are plain `str`, and everything not needed to identify a record is
optional. Aurora also answers `null` where its examples show a list or an object (`"tags": null`), so every
list or mapping is `NullAsEmpty[...]`: null reads as empty instead of failing the whole import.
IDs stay strings: Aurora reserves the right to change the format of opaque strings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, GetCoreSchemaHandler, SecretStr, field_serializer
from pydantic_core import core_schema

from pipeline_common.vocabulary import AgreementStatus

_AURORA_TIMESTAMP_FORMATS = ("%Y-%m-%d %H:%M:%S UTC", "%Y-%m-%d %H:%M:%S.%f UTC")


def parse_aurora_timestamp(value: str | datetime) -> datetime:
    """`"2026-08-01 17:04:00 UTC"` → an aware UTC datetime; ISO 8601 is accepted as a fallback."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    text = value.strip()
    for fmt in _AURORA_TIMESTAMP_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an Aurora timestamp: {value!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _timestamp_or_none(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, str | datetime):
        return parse_aurora_timestamp(value)
    return value


AuroraTimestamp = Annotated[datetime | None, BeforeValidator(_timestamp_or_none)]

_Container = TypeVar("_Container")


class _EmptyIfNull:
    """Reads `null` as the empty value of the annotated container type (`[]` for a list, `{}` for a dict)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        empty = get_origin(source) or source
        if empty not in (list, dict):
            raise TypeError(f"NullAsEmpty wraps a list or dict type, not {source!r}")
        return core_schema.no_info_before_validator_function(
            lambda value: empty() if value is None else value, handler(source)
        )


NullAsEmpty = Annotated[_Container, _EmptyIfNull()]


def normalize_agreement_status(value: str) -> str:
    """One spelling for both surfaces: the object says `cancel_pending`, the webhook `cancel-pending`."""
    return value.strip().lower().replace("-", "_").replace(" ", "_")


def _normalized_status(value: Any) -> Any:
    return normalize_agreement_status(value) if isinstance(value, str) else value


class AuroraModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Tenant(AuroraModel):
    id: str
    name: str | None = None
    created_at: AuroraTimestamp = None


class PropertyAddressComponents(AuroraModel):
    street_address: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


class Location(AuroraModel):
    property_address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    property_address_components: PropertyAddressComponents | None = None


class Project(AuroraModel):
    id: str
    name: str | None = None
    external_provider_id: str | None = None
    status: str | None = None
    tags: NullAsEmpty[list[str]] = Field(default_factory=list)
    project_type: str | None = None
    customer_salutation: str | None = None
    customer_first_name: str | None = None
    customer_last_name: str | None = None
    customer_email: str | None = None
    customer_phone: str | None = None
    mailing_address: str | None = None
    owner_id: str | None = None
    team_id: str | None = None
    partner_id: str | None = None
    created_at: AuroraTimestamp = None
    created_from_lead_id: str | None = None
    order_id: str | None = None
    ahj_id: str | None = None
    preferred_solar_modules: NullAsEmpty[list[str]] = Field(default_factory=list)
    location: Location | None = None


class NewProject(AuroraModel):
    """Body of Create Project. Unset fields are omitted: Aurora rejects `null` for optional strings."""

    external_provider_id: str | None = None
    name: str | None = None
    status: str | None = None
    project_type: str | None = None
    location: Location | None = None
    customer_salutation: str | None = None
    customer_first_name: str | None = None
    customer_last_name: str | None = None
    customer_email: str | None = None
    customer_phone: str | None = None
    mailing_address: str | None = None
    owner_id: str | None = None
    tags: list[str] | None = None


def _milestone(value: Any) -> Any:
    # Some client code types the milestone as a bare string; accept it rather than fail the whole design.
    if isinstance(value, str):
        return {"milestone": value}
    return value


class DesignMilestone(AuroraModel):
    milestone: str | None = None
    created_at: AuroraTimestamp = None


class Design(AuroraModel):
    id: str
    external_provider_id: str | None = None
    name: str | None = None
    project_id: str | None = None
    created_at: AuroraTimestamp = None
    system_size_stc: float | None = None
    system_size_ptc: float | None = None
    system_size_ac: float | None = None
    milestone: Annotated[DesignMilestone | None, BeforeValidator(_milestone)] = None

    @property
    def milestone_name(self) -> str | None:
        return self.milestone.milestone if self.milestone is not None else None


class BillOfMaterialsItem(AuroraModel):
    id: str | None = None
    component_type: str | None = None
    sku: str | None = None
    name: str | None = None
    manufacturer_name: str | None = None
    quantity: int | float | None = None


class EnergyProduction(AuroraModel):
    up_to_date: bool | None = None
    annual: float | None = None
    annual_offset: str | None = None
    monthly: NullAsEmpty[list[float]] = Field(default_factory=list)

    @property
    def annual_offset_percent(self) -> float | None:
        """`"87%"` → 87.0; None when absent or not a percentage."""
        if self.annual_offset is None:
            return None
        try:
            return float(self.annual_offset.strip().rstrip("%"))
        except ValueError:
            return None


class DesignSummary(AuroraModel):
    design_id: str
    project_id: str | None = None
    external_provider_id: str | None = None
    created_at: AuroraTimestamp = None
    system_size_stc: float | None = None
    system_size_ptc: float | None = None
    system_size_ac: float | None = None
    bill_of_materials: NullAsEmpty[list[BillOfMaterialsItem]] = Field(default_factory=list)
    arrays: NullAsEmpty[list[dict[str, Any]]] = Field(default_factory=list)
    energy_production: EnergyProduction | None = None

    @property
    def module_count(self) -> int:
        # Aurora has no top-level module count; the bill of materials is the source.
        return int(sum(item.quantity or 0 for item in self.bill_of_materials if item.component_type == "modules"))


class CostItem(AuroraModel):
    name: str | None = None
    cost: float | None = None


class CostComponent(AuroraModel):
    component: str | None = None
    cost: float | None = None
    items: NullAsEmpty[list[CostItem]] = Field(default_factory=list)


class Pricing(AuroraModel):
    system_price: float | None = None
    price_per_watt: float | None = None
    system_cost: float | None = None
    system_cost_breakdown: NullAsEmpty[list[CostComponent]] = Field(default_factory=list)
    storage_system_cost_breakdown: NullAsEmpty[list[CostComponent]] = Field(default_factory=list)


class Financier(AuroraModel):
    type: str | None = None
    provider: str | None = None
    status: str | None = None


class Financing(AuroraModel):
    id: str
    name: str | None = None
    project_id: str | None = None
    design_id: str | None = None
    selected_in_sales_mode: bool | None = None
    financing_option: str | None = None
    system_price: float | None = None
    monthly_payment: float | None = None
    loan_principal: float | None = None
    down_payment: float | None = None
    financier: Financier | None = None
    up_to_date: bool | None = None


class Agreement(AuroraModel):
    id: str
    project_id: str | None = None
    design_id: str | None = None
    financing_id: str | None = None
    agreement_template_name: str | None = None
    status: Annotated[str, BeforeValidator(_normalized_status)]
    signing_provider: str | None = None
    created_at: AuroraTimestamp = None
    sent_at: AuroraTimestamp = None
    last_viewed_at: AuroraTimestamp = None
    error_message: str | None = None

    @property
    def is_signed(self) -> bool:
        return self.status == AgreementStatus.SIGNED


class AgreementDownloadJob(AuroraModel):
    job_id: str
    requested_at: AuroraTimestamp = None
    completed_at: AuroraTimestamp = None
    status: str | None = None
    file_url: str | None = None
    project_id: str | None = None
    design_id: str | None = None
    error: Any = None

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded" and bool(self.file_url)

    @property
    def failed(self) -> bool:
        return self.status == "failed"


class ProposalPdfJob(AgreementDownloadJob):
    """The *Run Proposal PDF Generation* job: the same run/status job object as the agreement download.

    Modeled: Aurora names the endpoint and its completion event, not its shape (services/aurora_sim/README.md).
    """


class Proposal(AuroraModel):
    id: str | None = None
    created_at: AuroraTimestamp = None
    updated_at: AuroraTimestamp = None
    proposal_template_id: str | None = None
    proposal_link: str | None = None


class WebProposal(AuroraModel):
    url: str | None = None
    url_expired: bool | None = None


class Asset(AuroraModel):
    id: str
    asset_type: str | None = None
    design_id: str | None = None
    project_id: str | None = None
    file_name: str | None = None
    content_type: str | None = None
    created_at: AuroraTimestamp = None
    url: str | None = None


class User(AuroraModel):
    id: str
    tenant_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    title: str | None = None
    account_status: str | None = None
    role_id: str | None = None
    team_ids: NullAsEmpty[list[str]] = Field(default_factory=list)
    partner_ids: NullAsEmpty[list[str]] = Field(default_factory=list)

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


class ConsumptionProfile(AuroraModel):
    # Shapes of the utility fields vary between sources; keep whatever arrives.
    utility: str | dict[str, Any] | None = None
    utility_rate: str | dict[str, Any] | None = None
    monthly_energy: NullAsEmpty[list[float]] = Field(default_factory=list)


class Webhook(AuroraModel):
    id: str
    event: str | None = None
    url_template: str | None = None
    description: str | None = None
    enabled: bool | None = None
    header_auth_key: str | None = None
    created_at: AuroraTimestamp = None


class NewWebhook(AuroraModel):
    event: str
    url_template: str
    description: str | None = None
    enabled: bool = True
    header_auth_key: str | None = None
    header_auth_value: SecretStr | None = None

    @field_serializer("header_auth_value", when_used="json-unless-none")
    def _reveal(self, value: SecretStr) -> str:
        # Only serialised to build the request body; reprs and logs keep the mask.
        return value.get_secret_value()


class WebhookUpdate(AuroraModel):
    """Partial update: only the fields that are set are sent."""

    event: str | None = None
    url_template: str | None = None
    description: str | None = None
    enabled: bool | None = None
    header_auth_key: str | None = None
    header_auth_value: SecretStr | None = None

    @field_serializer("header_auth_value", when_used="json-unless-none")
    def _reveal(self, value: SecretStr) -> str:
        return value.get_secret_value()
