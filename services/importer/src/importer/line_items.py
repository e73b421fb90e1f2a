"""Line items from Aurora: the design's bill of materials and the pricing's adders, discounts and incentives.

Each carries an `aurora_ref` naming what it is (`bom:modules:<sku>`, `pricing:adders:<name>`), unique per
project, so importing the same design again updates the same rows instead of adding copies, and a design
that keeps the same module after a change keeps its line item.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from pipeline_common.mapping_catalog import resolve_path
from pipeline_common.vocabulary import MatchingStrategy

# Pricing breakdown components that become line items; base and starting cost are the system itself.
_PRICING_KINDS: Final = {"adders_without_discounts": "adder", "adders": "discount", "incentives": "incentive"}


@dataclass(frozen=True, slots=True)
class LineItem:
    kind: str
    name: str
    aurora_ref: str
    quantity: Decimal = Decimal(1)
    amount: Decimal | None = None
    component_type: str | None = None
    manufacturer: str | None = None
    sku: str | None = None


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _bill_of_materials(snapshot: Mapping[str, Any]) -> list[LineItem]:
    items = resolve_path(snapshot, "design.summary.bill_of_materials")
    found: list[LineItem] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping):
            continue
        component_type = _text(item.get("component_type"))
        manufacturer = _text(item.get("manufacturer_name"))
        sku = _text(item.get("sku"))
        name = _text(item.get("name")) or sku or component_type
        if name is None:
            continue
        identity = sku or f"{manufacturer or ''}/{name}"
        found.append(
            LineItem(
                kind="component",
                name=name,
                aurora_ref=f"bom:{component_type or 'other'}:{identity}".lower(),
                quantity=_decimal(item.get("quantity")) or Decimal(1),
                component_type=component_type,
                manufacturer=manufacturer,
                sku=sku,
            )
        )
    return found


def _pricing(snapshot: Mapping[str, Any], breakdown: str, prefix: str) -> list[LineItem]:
    components = resolve_path(snapshot, f"pricing.{breakdown}")
    found: list[LineItem] = []
    for component in components if isinstance(components, list) else []:
        if not isinstance(component, Mapping):
            continue
        kind = _PRICING_KINDS.get(str(component.get("component")))
        items = component.get("items")
        if kind is None or not isinstance(items, list):
            continue
        for item in items:
            if not isinstance(item, Mapping) or _text(item.get("name")) is None:
                continue
            amount = _decimal(item.get("cost"))
            # Aurora's `adders` component holds the discounts (negative); a positive entry there is an adder.
            item_kind = "adder" if kind == "discount" and amount is not None and amount > 0 else kind
            name = str(_text(item.get("name")))
            found.append(
                LineItem(
                    kind=item_kind,
                    name=name,
                    aurora_ref=f"{prefix}:{component.get('component')}:{name}".lower(),
                    amount=amount,
                )
            )
    return found


def line_items_from(snapshot: Mapping[str, Any]) -> list[LineItem]:
    items = [
        *_bill_of_materials(snapshot),
        *_pricing(snapshot, "system_cost_breakdown", "pricing"),
        *_pricing(snapshot, "storage_system_cost_breakdown", "storage_pricing"),
    ]
    # Two entries with the same identity stay two line items: the second gets a suffix.
    seen: dict[str, int] = {}
    unique: list[LineItem] = []
    for item in items:
        count = seen.get(item.aurora_ref, 0) + 1
        seen[item.aurora_ref] = count
        if count > 1:
            item = LineItem(**{**_fields(item), "aurora_ref": f"{item.aurora_ref}#{count}"})
        unique.append(item)
    return unique


def _fields(item: LineItem) -> dict[str, Any]:
    return {name: getattr(item, name) for name in LineItem.__slots__}


_WRITE = """
WITH incoming AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::numeric[],
                         $8::numeric[], $9::text[])
        AS u(kind, component_type, manufacturer, name, sku, quantity, amount, aurora_ref)
), removed AS (
    DELETE FROM line_items l
     WHERE $10 AND l.project_id = $1 AND l.source = 'aurora'
       AND (l.aurora_ref IS NULL OR NOT l.aurora_ref = ANY($9::text[]))
    RETURNING 1
), written AS (
    INSERT INTO line_items (id, project_id, source, kind, component_type, manufacturer, name, sku, quantity,
                            amount, aurora_ref)
    SELECT gen_random_uuid(), $1, 'aurora', kind, component_type, manufacturer, name, sku, quantity, amount,
           aurora_ref
      FROM incoming
    ON CONFLICT (project_id, aurora_ref) WHERE aurora_ref IS NOT NULL DO UPDATE SET
        kind = EXCLUDED.kind, component_type = EXCLUDED.component_type, manufacturer = EXCLUDED.manufacturer,
        name = EXCLUDED.name, sku = EXCLUDED.sku, quantity = EXCLUDED.quantity, amount = EXCLUDED.amount
     WHERE (line_items.kind, line_items.component_type, line_items.manufacturer, line_items.name, line_items.sku,
            line_items.quantity, line_items.amount)
           IS DISTINCT FROM (EXCLUDED.kind, EXCLUDED.component_type, EXCLUDED.manufacturer, EXCLUDED.name,
                             EXCLUDED.sku, EXCLUDED.quantity, EXCLUDED.amount)
    RETURNING 1
)
SELECT (SELECT count(*) FROM removed) + (SELECT count(*) FROM written)
"""


async def write_line_items(
    conn: Any, project_id: Any, items: list[LineItem], strategy: MatchingStrategy, *, is_new: bool
) -> int:
    """Upserts Aurora's line items (and under replace removes Aurora ones no longer there); rows changed."""
    replace = strategy is MatchingStrategy.REPLACE and not is_new
    if not items and not replace:
        return 0
    changed = await conn.fetchval(
        _WRITE,
        project_id,
        [i.kind for i in items],
        [i.component_type for i in items],
        [i.manufacturer for i in items],
        [i.name for i in items],
        [i.sku for i in items],
        [i.quantity for i in items],
        [i.amount for i in items],
        [i.aurora_ref for i in items],
        replace,
    )
    return int(changed or 0)
