"""Tolerance: Aurora adds fields and enum values without notice; nothing here may break on them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline_common.aurora import (
    Agreement,
    AgreementStatus,
    Design,
    DesignSummary,
    Financing,
    NewWebhook,
    Pricing,
    Project,
    normalize_agreement_status,
    parse_aurora_timestamp,
)


def test_aurora_timestamp() -> None:
    parsed = parse_aurora_timestamp("2026-08-01 17:04:00 UTC")
    assert parsed == datetime(2026, 8, 1, 17, 4, tzinfo=UTC)
    assert parsed.tzinfo is not None


@pytest.mark.parametrize("value", ["2026-08-01T17:04:00Z", "2026-08-01T17:04:00+00:00", "2026-08-01 17:04:00.000 UTC"])
def test_timestamp_fallbacks_are_aware(value: str) -> None:
    assert parse_aurora_timestamp(value) == datetime(2026, 8, 1, 17, 4, tzinfo=UTC)


def test_timestamp_with_offset_keeps_the_instant() -> None:
    assert parse_aurora_timestamp("2026-08-01T19:04:00+02:00") == datetime(2026, 8, 1, 17, 4, tzinfo=UTC)


def test_garbage_timestamp_is_rejected() -> None:
    with pytest.raises(ValueError, match="not an Aurora timestamp"):
        parse_aurora_timestamp("yesterday")


def test_project_keeps_unknown_fields_and_parses_nested_location() -> None:
    project = Project.model_validate(
        {
            "id": "p1",
            "status": "Some Brand New Status",
            "project_type": "agrivoltaic",
            "created_at": "2026-08-01 17:04:00 UTC",
            "brand_new_field": {"x": 1},
            "location": {
                "property_address": "42 Mesquite Ln",
                "latitude": 33.4,
                "longitude": -111.8,
                "new_geo_field": True,
                "property_address_components": {"city": "Mesa", "region": "AZ", "county": "Maricopa"},
            },
        }
    )
    assert project.status == "Some Brand New Status"
    assert project.project_type == "agrivoltaic"
    assert project.created_at == datetime(2026, 8, 1, 17, 4, tzinfo=UTC)
    assert project.model_extra == {"brand_new_field": {"x": 1}}
    assert project.location is not None
    assert project.location.property_address_components is not None
    assert project.location.property_address_components.city == "Mesa"
    assert project.location.property_address_components.model_extra == {"county": "Maricopa"}


def test_minimal_project_defaults() -> None:
    project = Project.model_validate({"id": "p1"})
    assert project.tags == []
    assert project.location is None
    assert project.created_at is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ({"milestone": "sold", "created_at": "2026-01-02 03:04:05 UTC"}, "sold"),
        ("installed", "installed"),
    ],
)
def test_design_milestone_shapes(raw: object, expected: str | None) -> None:
    design = Design.model_validate({"id": "d1", "milestone": raw})
    assert design.milestone_name == expected


def test_design_milestone_unknown_value_is_kept() -> None:
    design = Design.model_validate({"id": "d1", "milestone": {"milestone": "permitted", "by": "x"}})
    assert design.milestone_name == "permitted"


def test_summary_counts_modules_and_keeps_unknown_component_types() -> None:
    summary = DesignSummary.model_validate(
        {
            "design_id": "d1",
            "bill_of_materials": [
                {"component_type": "modules", "quantity": 28},
                {"component_type": "modules", "quantity": 3},
                {"component_type": "hydrogen_fuel_cells", "quantity": 2},
            ],
            "energy_production": {"annual": 10123.4, "annual_offset": "87%", "monthly": [1.0] * 12, "hourly": None},
        }
    )
    assert summary.module_count == 31
    assert summary.bill_of_materials[2].component_type == "hydrogen_fuel_cells"
    assert summary.energy_production is not None
    assert summary.energy_production.annual_offset_percent == 87.0


def test_pricing_components_are_open() -> None:
    pricing = Pricing.model_validate(
        {
            "system_price": 0,
            "system_cost_breakdown": [
                {"component": "base_cost", "cost": 100.0, "items": [{"name": "PPW", "cost": 100.0}]},
                {"component": "carbon_credits", "cost": -5.0, "items": []},
            ],
        }
    )
    assert [c.component for c in pricing.system_cost_breakdown] == ["base_cost", "carbon_credits"]
    assert pricing.storage_system_cost_breakdown == []


def test_financing_with_unknown_financier_status() -> None:
    financing = Financing.model_validate(
        {"id": "f1", "financing_option": "subscription", "financier": {"type": "integrated", "status": "funded"}}
    )
    assert financing.financing_option == "subscription"
    assert financing.financier is not None
    assert financing.financier.status == "funded"


@pytest.mark.parametrize("raw", ["cancel_pending", "cancel-pending", "CANCEL-PENDING"])
def test_agreement_status_spellings_normalise(raw: str) -> None:
    assert normalize_agreement_status(raw) == AgreementStatus.CANCEL_PENDING
    assert Agreement.model_validate({"id": "a1", "status": raw}).status == AgreementStatus.CANCEL_PENDING


def test_agreement_unknown_status_is_kept() -> None:
    agreement = Agreement.model_validate({"id": "a1", "status": "voided_by_admin", "sent_at": None})
    assert agreement.status == "voided_by_admin"
    assert not agreement.is_signed


def test_webhook_body_reveals_auth_value_only_in_json_dump() -> None:
    hook = NewWebhook(event="agreement_status_changed", url_template="https://x/y", header_auth_value="hush")
    assert "hush" not in repr(hook)
    assert hook.model_dump(mode="json", exclude_none=True)["header_auth_value"] == "hush"
