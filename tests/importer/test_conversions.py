"""Type conversion into custom properties, line items from Aurora's shapes, and the strategies' merge rule:
pure functions, no services."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from importer.custom_values import ConversionError, convert
from importer.integration_settings import CustomMapping
from importer.line_items import line_items_from
from importer.strategies import merge_fields
from pipeline_common.mapping_catalog import PropertyType
from pipeline_common.vocabulary import MatchingStrategy


def _mapping(type_: PropertyType, options: tuple[str, ...] = ()) -> CustomMapping:
    return CustomMapping(uuid.uuid4(), "p", type_, options, "project.name")


@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [
        (PropertyType.NUMBER, "87%", 87),
        (PropertyType.NUMBER, "$28,560.50", 28560.5),
        (PropertyType.NUMBER, 8400.0, 8400),
        (PropertyType.NUMBER, 3.4, 3.4),
        (PropertyType.BOOLEAN, "Yes", True),
        (PropertyType.BOOLEAN, 0, False),
        (PropertyType.DATE, "2026-08-01 23:30:00 UTC", "2026-08-01"),
        (PropertyType.DATE, "2026-08-01T23:30:00-05:00", "2026-08-02"),
        (PropertyType.TEXT, ["a", "b"], "a, b"),
        (PropertyType.TEXT, 42, "42"),
        (PropertyType.SINGLE_SELECT, "LOANS", "Loans"),
        (PropertyType.MULTI_SELECT, "priority, battery", ["Priority", "Battery"]),
        (PropertyType.MULTI_SELECT, ["battery", "Battery"], ["Battery"]),
        (PropertyType.URL, "https://x.example/p?q=1", "https://x.example/p?q=1"),
        (PropertyType.EMAIL, " a@b.example ", "a@b.example"),
        (PropertyType.PHONE, "(480) 555-0100 ext. 12", "(480) 555-0100 ext. 12"),
        (PropertyType.NUMBER, None, None),
        (PropertyType.TEXT, "", None),
        (PropertyType.MULTI_SELECT, [], None),
    ],
)
def test_converts(type_: PropertyType, value: Any, expected: Any) -> None:
    assert convert(value, _mapping(type_, ("Loans", "Cash", "Priority", "Battery"))) == expected


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        (PropertyType.NUMBER, "about ten"),
        (PropertyType.NUMBER, True),
        (PropertyType.NUMBER, "NaN"),
        (PropertyType.BOOLEAN, "maybe"),
        (PropertyType.BOOLEAN, 2),
        (PropertyType.DATE, "yesterday"),
        (PropertyType.DATE, 1700000000),
        (PropertyType.SINGLE_SELECT, "Lease"),
        (PropertyType.MULTI_SELECT, ["Priority", "VIP"]),
        (PropertyType.URL, "ftp://x.example"),
        (PropertyType.URL, "aurora.example/page"),
        (PropertyType.EMAIL, "someone at example"),
        (PropertyType.PHONE, "12"),
        (PropertyType.PHONE, "call me"),
        (PropertyType.TEXT, {"nested": 1}),
    ],
)
def test_refuses(type_: PropertyType, value: Any) -> None:
    with pytest.raises(ConversionError):
        convert(value, _mapping(type_, ("Loans", "Cash", "Priority", "Battery")))


def test_line_items_from_bom_and_pricing() -> None:
    snapshot = {
        "design": {
            "summary": {
                "bill_of_materials": [
                    {
                        "component_type": "modules",
                        "sku": "M1",
                        "name": "Module",
                        "manufacturer_name": "Acme",
                        "quantity": 20,
                    },
                    {
                        "component_type": "modules",
                        "sku": "M1",
                        "name": "Module",
                        "manufacturer_name": "Acme",
                        "quantity": 2,
                    },
                    {"component_type": "optimizers", "sku": None, "name": "P401", "manufacturer_name": "SolarEdge"},
                    "garbage",
                ]
            }
        },
        "pricing": {
            "system_cost_breakdown": [
                {"component": "base_cost", "cost": 20000, "items": [{"name": "Price per watt", "cost": 20000}]},
                {"component": "adders_without_discounts", "items": [{"name": "Trenching", "cost": 900}]},
                {"component": "adders", "items": [{"name": "Loyalty", "cost": -300}, {"name": "Odd", "cost": 10}]},
                {"component": "incentives", "items": [{"name": "State rebate", "cost": -1000}]},
            ],
            "storage_system_cost_breakdown": [
                {"component": "adders_without_discounts", "items": [{"name": "Trenching", "cost": 400}]},
            ],
        },
    }
    items = line_items_from(snapshot)
    assert [(i.kind, i.name, i.quantity, i.amount, i.aurora_ref) for i in items] == [
        ("component", "Module", Decimal(20), None, "bom:modules:m1"),
        ("component", "Module", Decimal(2), None, "bom:modules:m1#2"),
        ("component", "P401", Decimal(1), None, "bom:optimizers:solaredge/p401"),
        ("adder", "Trenching", Decimal(1), Decimal(900), "pricing:adders_without_discounts:trenching"),
        ("discount", "Loyalty", Decimal(1), Decimal(-300), "pricing:adders:loyalty"),
        ("adder", "Odd", Decimal(1), Decimal(10), "pricing:adders:odd"),
        ("incentive", "State rebate", Decimal(1), Decimal(-1000), "pricing:incentives:state rebate"),
        ("adder", "Trenching", Decimal(1), Decimal(400), "storage_pricing:adders_without_discounts:trenching"),
    ]
    assert line_items_from({"design": None, "pricing": None}) == []


def test_merge_rules() -> None:
    before = {"a": 1, "b": 2, "c": 3, "signed_at": "first"}
    incoming = {"a": 10, "b": None, "c": None, "signed_at": "later"}
    assert merge_fields(MatchingStrategy.ENRICH, before, incoming) == {"a": 10, "b": 2, "c": 3, "signed_at": "first"}
    assert merge_fields(MatchingStrategy.REPLACE, before, incoming, {"c"}) == {
        "a": 10,
        "b": None,
        "c": 3,
        "signed_at": "first",
    }
    assert merge_fields(MatchingStrategy.REPLACE, None, incoming) == incoming
