"""What an Aurora snapshot offers and where it lands in the CRM: one list for admin API and importer.

The snapshot is the `ProjectFetched.snapshot` dict the fetcher builds from Aurora's current state. Its
top-level keys are `project`, `design` (the chosen design, with the design summary under
`design.summary`), `pricing`, `financing`, `agreement`, `proposal`, `web_proposal` and `sales_rep` (the
project owner as an Aurora user); any of them may be missing or null. Paths are dotted, e.g.
`design.summary.energy_production.annual`.

Two lists live here:

- `AURORA_FIELDS`: every path a custom mapping may point at, with its value type. The admin API serves it and
  refuses mappings outside it; the importer resolves the same paths with `resolve_path`.
- `STANDARD_MAPPINGS`: the fixed, documented mapping onto the CRM's own columns (`contact.*`, `project.*`).
  Companies cannot change it. `standard_values` applies it to a snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final


class AuroraFieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"
    TEXT_LIST = "text_list"
    URL = "url"
    EMAIL = "email"
    PHONE = "phone"


class PropertyType(StrEnum):
    """Types of the CRM's custom properties (the `custom_properties.type` column)."""

    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    SINGLE_SELECT = "single_select"
    MULTI_SELECT = "multi_select"
    URL = "url"
    EMAIL = "email"
    PHONE = "phone"


# Which property types can hold a value of each Aurora type without guessing. Text-like Aurora values also
# fit a text property (a URL is valid text); a single select takes text because the option is matched by
# name at import time. Numbers do not go into text properties: the user guide asks for aligned types, and a
# number stored as text cannot be summed or filtered as one.
COMPATIBLE_PROPERTY_TYPES: Final[Mapping[AuroraFieldType, tuple[PropertyType, ...]]] = {
    AuroraFieldType.TEXT: (PropertyType.TEXT, PropertyType.SINGLE_SELECT),
    AuroraFieldType.NUMBER: (PropertyType.NUMBER,),
    AuroraFieldType.BOOLEAN: (PropertyType.BOOLEAN,),
    AuroraFieldType.TIMESTAMP: (PropertyType.DATE,),
    AuroraFieldType.TEXT_LIST: (PropertyType.MULTI_SELECT, PropertyType.TEXT),
    AuroraFieldType.URL: (PropertyType.URL, PropertyType.TEXT),
    AuroraFieldType.EMAIL: (PropertyType.EMAIL, PropertyType.TEXT),
    AuroraFieldType.PHONE: (PropertyType.PHONE, PropertyType.TEXT),
}


def compatible_property_types(aurora_type: AuroraFieldType) -> tuple[PropertyType, ...]:
    return COMPATIBLE_PROPERTY_TYPES[aurora_type]


@dataclass(frozen=True, slots=True)
class AuroraField:
    path: str
    type: AuroraFieldType
    description: str
    example: Any = None


def _f(path: str, type_: AuroraFieldType, description: str, example: Any = None) -> AuroraField:
    return AuroraField(path, type_, description, example)


T = AuroraFieldType

AURORA_FIELDS: Final[tuple[AuroraField, ...]] = (
    # project
    _f("project.id", T.TEXT, "Aurora project id", "3fa85f64-5717-4562-b3fc-2c963f66afa6"),
    _f("project.name", T.TEXT, "Project name", "Jane Doe - 42 Mesquite Ln"),
    _f("project.external_provider_id", T.TEXT, "External provider id set on the project"),
    _f("project.status", T.TEXT, "Project status (tenant-defined free text)", "Design Ready"),
    _f("project.tags", T.TEXT_LIST, "Project tags", ["priority"]),
    _f("project.project_type", T.TEXT, "residential or commercial", "residential"),
    _f("project.customer_salutation", T.TEXT, "Customer salutation", "Ms."),
    _f("project.customer_first_name", T.TEXT, "Customer first name", "Jane"),
    _f("project.customer_last_name", T.TEXT, "Customer last name", "Doe"),
    _f("project.customer_email", T.EMAIL, "Customer email", "jane@example.com"),
    _f("project.customer_phone", T.PHONE, "Customer phone", "+1 480 555 0100"),
    _f("project.mailing_address", T.TEXT, "Customer mailing address"),
    _f("project.owner_id", T.TEXT, "Aurora user id of the project owner"),
    _f("project.team_id", T.TEXT, "Aurora team id"),
    _f("project.partner_id", T.TEXT, "Aurora partner (dealer) id"),
    _f("project.created_at", T.TIMESTAMP, "When the project was created in Aurora"),
    _f("project.order_id", T.TEXT, "Aurora order id"),
    _f("project.ahj_id", T.TEXT, "Authority having jurisdiction id"),
    _f("project.location.property_address", T.TEXT, "Full property address", "42 Mesquite Ln, Mesa"),
    _f("project.location.latitude", T.NUMBER, "Property latitude", 33.4152),
    _f("project.location.longitude", T.NUMBER, "Property longitude", -111.8315),
    _f("project.location.property_address_components.street_address", T.TEXT, "Street", "42 Mesquite Ln"),
    _f("project.location.property_address_components.city", T.TEXT, "City", "Mesa"),
    _f("project.location.property_address_components.region", T.TEXT, "State code", "AZ"),
    _f("project.location.property_address_components.postal_code", T.TEXT, "Postal code", "85201"),
    _f("project.location.property_address_components.country", T.TEXT, "Country", "United States"),
    # design
    _f("design.id", T.TEXT, "Aurora id of the design the import used"),
    _f("design.name", T.TEXT, "Design name", "Design 1"),
    _f("design.external_provider_id", T.TEXT, "External provider id set on the design"),
    _f("design.created_at", T.TIMESTAMP, "When the design was created"),
    _f("design.system_size_stc", T.NUMBER, "System size STC in W", 8400.0),
    _f("design.system_size_ptc", T.NUMBER, "System size PTC in W", 7650.0),
    _f("design.system_size_ac", T.NUMBER, "System size AC in W", 7600.0),
    _f("design.milestone.milestone", T.TEXT, "Design milestone (sold, installed, …)", "sold"),
    _f("design.milestone.created_at", T.TIMESTAMP, "When the milestone was set"),
    _f("design.summary.system_size_stc", T.NUMBER, "System size STC in W (design summary)", 8400.0),
    _f("design.summary.system_size_ptc", T.NUMBER, "System size PTC in W (design summary)", 7650.0),
    _f("design.summary.system_size_ac", T.NUMBER, "System size AC in W (design summary)", 7600.0),
    _f("design.summary.energy_production.annual", T.NUMBER, "Annual production in kWh", 12650.0),
    _f("design.summary.energy_production.annual_offset", T.TEXT, "Annual offset as Aurora writes it", "87%"),
    _f("design.summary.energy_production.up_to_date", T.BOOLEAN, "Whether the simulation is current", True),
    # pricing
    _f("pricing.system_price", T.NUMBER, "Contract price", 28560.0),
    _f("pricing.price_per_watt", T.NUMBER, "Gross price per watt", 3.4),
    _f("pricing.system_cost", T.NUMBER, "Total cost including storage", 28560.0),
    # financing
    _f("financing.id", T.TEXT, "Selected financing id"),
    _f("financing.name", T.TEXT, "Financing name", "GoodLeap 25y 3.99%"),
    _f("financing.financing_option", T.TEXT, "cash, loans, lease, ppa, levelized_ppa", "loans"),
    _f("financing.system_price", T.NUMBER, "System price under this financing", 28560.0),
    _f("financing.monthly_payment", T.NUMBER, "Monthly payment", 142.17),
    _f("financing.loan_principal", T.NUMBER, "Loan principal", 28560.0),
    _f("financing.down_payment", T.NUMBER, "Down payment", 0.0),
    _f("financing.selected_in_sales_mode", T.BOOLEAN, "Selected in sales mode", True),
    _f("financing.financier.type", T.TEXT, "integrated or custom", "integrated"),
    _f("financing.financier.provider", T.TEXT, "Financier", "goodleap"),
    _f("financing.financier.status", T.TEXT, "Financier application status", "pre_approved"),
    # agreement
    _f("agreement.id", T.TEXT, "Agreement id"),
    _f("agreement.status", T.TEXT, "Agreement status", "signed"),
    _f("agreement.agreement_template_name", T.TEXT, "Agreement template", "Residential PPA"),
    _f("agreement.signing_provider", T.TEXT, "docusign or dropbox_sign", "docusign"),
    _f("agreement.created_at", T.TIMESTAMP, "When the agreement was created"),
    _f("agreement.sent_at", T.TIMESTAMP, "When the agreement was sent"),
    _f("agreement.last_viewed_at", T.TIMESTAMP, "When the agreement was last viewed"),
    # proposal
    _f("proposal.id", T.TEXT, "Default proposal id"),
    _f("proposal.proposal_link", T.URL, "Link to the proposal in Aurora"),
    _f("proposal.created_at", T.TIMESTAMP, "When the proposal was created"),
    _f("proposal.updated_at", T.TIMESTAMP, "When the proposal was last updated"),
    _f("web_proposal.url", T.URL, "Shareable web proposal URL"),
    _f("web_proposal.url_expired", T.BOOLEAN, "Whether the web proposal URL has expired", False),
    # sales rep
    _f("sales_rep.id", T.TEXT, "Aurora user id of the sales rep"),
    _f("sales_rep.first_name", T.TEXT, "Sales rep first name", "Sam"),
    _f("sales_rep.last_name", T.TEXT, "Sales rep last name", "Seller"),
    _f("sales_rep.email", T.EMAIL, "Sales rep email", "sam@installer.example"),
    _f("sales_rep.phone", T.PHONE, "Sales rep phone"),
    _f("sales_rep.title", T.TEXT, "Sales rep title", "Energy Consultant"),
)
del T

AURORA_FIELDS_BY_PATH: Final[Mapping[str, AuroraField]] = {f.path: f for f in AURORA_FIELDS}
SNAPSHOT_SECTIONS: Final = (
    "project",
    "design",
    "pricing",
    "financing",
    "agreement",
    "proposal",
    "web_proposal",
    "sales_rep",
)


def aurora_field(path: str) -> AuroraField | None:
    return AURORA_FIELDS_BY_PATH.get(path.strip())


def resolve_path(snapshot: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or None when any step is missing or not an object."""
    current: Any = snapshot
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
        if current is None:
            return None
    return current


def snapshot_says(snapshot: Mapping[str, Any], path: str) -> bool:
    """Whether the snapshot states the value at `path`, null included.

    A key absent along the way means the fetcher did not read that part of Aurora (a record it could not
    get): the snapshot says nothing, and an import must not take that for "Aurora has no value". An explicit
    null (`"milestone": null`) is Aurora's own answer.
    """
    current: Any = snapshot
    for part in path.split("."):
        if current is None:
            return True
        if not isinstance(current, Mapping) or part not in current:
            return False
        current = current[part]
    return True


# ---------------------------------------------------------------- standard mappings


@dataclass(frozen=True, slots=True)
class ImportContext:
    """What a standard mapping needs besides the snapshot."""

    received_at: datetime | None = None
    # When the agreement's signed webhook first arrived, if the fetcher knows (every import path reads it).
    signed_at: datetime | None = None
    environment: str = "production"


Extractor = Callable[[Mapping[str, Any], ImportContext], Any]


def _path(path: str) -> Extractor:
    return lambda snapshot, _ctx: resolve_path(snapshot, path)


def _watts_to_kw(path: str) -> Extractor:
    def extract(snapshot: Mapping[str, Any], _ctx: ImportContext) -> Any:
        watts = resolve_path(snapshot, path)
        return round(float(watts) / 1000, 3) if isinstance(watts, int | float) else None

    return extract


def _bom(snapshot: Mapping[str, Any], component_types: tuple[str, ...]) -> list[Mapping[str, Any]]:
    items = resolve_path(snapshot, "design.summary.bill_of_materials")
    if not isinstance(items, list):
        return []
    return [i for i in items if isinstance(i, Mapping) and i.get("component_type") in component_types]


def _bom_model(*component_types: str) -> Extractor:
    # The model with the largest quantity: a design may mix a main module with a few of another.
    def extract(snapshot: Mapping[str, Any], _ctx: ImportContext) -> Any:
        items = _bom(snapshot, component_types)
        if not items:
            return None
        best = max(items, key=lambda i: i.get("quantity") or 0)
        return best.get("name")

    return extract


def _bom_count(*component_types: str) -> Extractor:
    def extract(snapshot: Mapping[str, Any], _ctx: ImportContext) -> Any:
        items = _bom(snapshot, component_types)
        if not items:
            return None
        return int(sum(i.get("quantity") or 0 for i in items))

    return extract


def _full_name(section: str) -> Extractor:
    def extract(snapshot: Mapping[str, Any], _ctx: ImportContext) -> Any:
        parts = [resolve_path(snapshot, f"{section}.{p}") for p in ("first_name", "last_name")]
        name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
        return name or None

    return extract


def _first_present(*paths: str) -> Extractor:
    def extract(snapshot: Mapping[str, Any], _ctx: ImportContext) -> Any:
        for p in paths:
            value = resolve_path(snapshot, p)
            if value not in (None, ""):
                return value
        return None

    return extract


def _signed_at(snapshot: Mapping[str, Any], ctx: ImportContext) -> Any:
    # Aurora's agreement has no signed_at: the time the signed webhook arrived is the best there is. An
    # import the signed webhook did not start (project status, re-sync, backfill) has it from the fetcher;
    # without it (a signature we never heard of), the time of this import's own webhook.
    status = resolve_path(snapshot, "agreement.status")
    if isinstance(status, str) and status.strip().lower() == "signed":
        return ctx.signed_at or ctx.received_at
    return None


def _title(snapshot: Mapping[str, Any], ctx: ImportContext) -> Any:
    return _first_present("project.name", "project.location.property_address")(snapshot, ctx) or (
        _customer_name(snapshot, ctx)
    )


def _aurora_link(snapshot: Mapping[str, Any], ctx: ImportContext) -> Any:
    project_id = resolve_path(snapshot, "project.id")
    return aurora_project_url(ctx.environment, project_id) if isinstance(project_id, str) else None


def _customer_name(snapshot: Mapping[str, Any], _ctx: ImportContext) -> Any:
    parts = [resolve_path(snapshot, f"project.customer_{p}") for p in ("first_name", "last_name")]
    return " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip()) or None


AURORA_APP_URL: Final = {
    "sandbox": "https://v2-sandbox.aurorasolar.com",
    "production": "https://v2.aurorasolar.com",
}


@dataclass(frozen=True, slots=True)
class StandardMapping:
    target: str = field(metadata={"doc": "CRM destination, `contact.<column>` or `project.<column>`"})
    source: str = field(metadata={"doc": "Aurora path(s) or the rule the value comes from"})
    type: str = field(metadata={"doc": "CRM value type"})
    description: str
    extract: Extractor = field(repr=False, compare=False)


def _m(target: str, source: str, type_: str, description: str, extract: Extractor | None = None) -> StandardMapping:
    return StandardMapping(target, source, type_, description, extract or _path(source))


_MODULES = ("modules",)
_INVERTERS = ("inverters", "microinverters", "string_inverters")

STANDARD_MAPPINGS: Final[tuple[StandardMapping, ...]] = (
    _m("contact.salutation", "project.customer_salutation", "text", "Customer salutation"),
    _m("contact.first_name", "project.customer_first_name", "text", "Customer first name"),
    _m("contact.last_name", "project.customer_last_name", "text", "Customer last name"),
    _m("contact.email", "project.customer_email", "email", "Customer email; also how contacts are matched"),
    _m("contact.phone", "project.customer_phone", "phone", "Customer phone"),
    _m("contact.mailing_address", "project.mailing_address", "text", "Customer mailing address"),
    _m(
        "project.title",
        "project.name | project.location.property_address | customer name",
        "text",
        "Project title: the Aurora project name, else the address, else the customer name",
        _title,
    ),
    _m("project.full_address", "project.location.property_address", "text", "Full property address"),
    _m(
        "project.street_address",
        "project.location.property_address_components.street_address",
        "text",
        "Street address",
    ),
    _m("project.city", "project.location.property_address_components.city", "text", "City"),
    _m("project.state", "project.location.property_address_components.region", "text", "State / region code"),
    _m(
        "project.postal_code",
        "project.location.property_address_components.postal_code",
        "text",
        "Postal code",
    ),
    _m("project.country", "project.location.property_address_components.country", "text", "Country"),
    _m("project.latitude", "project.location.latitude", "number", "Latitude"),
    _m("project.longitude", "project.location.longitude", "number", "Longitude"),
    _m("project.project_type", "project.project_type", "text", "residential or commercial"),
    _m(
        "project.system_size_kw",
        "design.summary.system_size_stc / 1000",
        "number",
        "System size in kW (Aurora reports STC watts)",
        _watts_to_kw("design.summary.system_size_stc"),
    ),
    _m("project.contract_value", "pricing.system_price", "number", "Contract value"),
    _m("project.price_per_watt", "pricing.price_per_watt", "number", "Gross price per watt"),
    _m(
        "project.annual_production_kwh",
        "design.summary.energy_production.annual",
        "number",
        "Annual production in kWh",
    ),
    _m(
        "project.module_model",
        "design.summary.bill_of_materials[component_type=modules].name",
        "text",
        "Module model (the most used one)",
        _bom_model(*_MODULES),
    ),
    _m(
        "project.module_count",
        "sum(design.summary.bill_of_materials[component_type=modules].quantity)",
        "integer",
        "Module count",
        _bom_count(*_MODULES),
    ),
    _m(
        "project.inverter_model",
        "design.summary.bill_of_materials[component_type in inverters,microinverters].name",
        "text",
        "Inverter model (the most used one)",
        _bom_model(*_INVERTERS),
    ),
    _m(
        "project.inverter_count",
        "sum(design.summary.bill_of_materials[component_type in inverters,microinverters].quantity)",
        "integer",
        "Inverter count",
        _bom_count(*_INVERTERS),
    ),
    _m(
        "project.sales_rep_name",
        "sales_rep.first_name + sales_rep.last_name",
        "text",
        "Sales rep (the Aurora project owner)",
        _full_name("sales_rep"),
    ),
    _m("project.sales_rep_email", "sales_rep.email", "email", "Sales rep email"),
    _m("project.aurora_project_id", "project.id", "text", "Aurora project id"),
    _m("project.aurora_design_id", "design.id", "text", "Aurora id of the design imported"),
    _m("project.aurora_agreement_id", "agreement.id", "text", "Aurora agreement id"),
    _m(
        "project.aurora_project_url",
        "project.id → Aurora web app link for the integration's environment",
        "url",
        "Link to the project in Aurora",
        _aurora_link,
    ),
    _m("project.aurora_status", "project.status", "text", "Aurora project status"),
    _m(
        "project.proposal_url",
        "web_proposal.url | proposal.proposal_link",
        "url",
        "Web proposal link, else the proposal link in Aurora",
        _first_present("web_proposal.url", "proposal.proposal_link"),
    ),
    _m(
        "project.signed_at",
        "time the agreement_status_changed=signed webhook first arrived",
        "timestamp",
        "Signed date (Aurora's agreement has no signed_at)",
        _signed_at,
    ),
)

STANDARD_TARGETS: Final = frozenset(m.target for m in STANDARD_MAPPINGS)


def standard_values(snapshot: Mapping[str, Any], context: ImportContext | None = None) -> dict[str, Any]:
    """Every standard target with its value from the snapshot (None where Aurora has none)."""
    ctx = context or ImportContext()
    return {m.target: m.extract(snapshot, ctx) for m in STANDARD_MAPPINGS}


def aurora_project_url(environment: str, aurora_project_id: str) -> str:
    """Deep link into Aurora's web app; the importer stores it as `project.aurora_project_url`."""
    base = AURORA_APP_URL.get(environment, AURORA_APP_URL["production"])
    return f"{base}/projects/{aurora_project_id}"
