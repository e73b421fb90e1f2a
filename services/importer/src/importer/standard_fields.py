"""The standard mappings (mapping_catalog.STANDARD_MAPPINGS, the list the admin API serves) turned into
column values of `contacts` and `projects`, typed the way the columns are."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from importer.strategies import SECTIONS_READ_ON_DEMAND
from pipeline_common.aurora.models import parse_aurora_timestamp
from pipeline_common.mapping_catalog import SNAPSHOT_SECTIONS, STANDARD_MAPPINGS, ImportContext, StandardMapping

CONTACT_COLUMNS: Final = tuple(m.target.split(".", 1)[1] for m in STANDARD_MAPPINGS if m.target.startswith("contact."))
PROJECT_COLUMNS: Final = tuple(m.target.split(".", 1)[1] for m in STANDARD_MAPPINGS if m.target.startswith("project."))

# double precision columns; every other number column is numeric and gets an exact Decimal.
_FLOAT_COLUMNS: Final = frozenset({"latitude", "longitude"})
# Derived values whose source text does not start with the section they depend on.
_SECTION_OF: Final = {"project.signed_at": "agreement"}


def _section(mapping: StandardMapping) -> str | None:
    if mapping.target in _SECTION_OF:
        return _SECTION_OF[mapping.target]
    head = mapping.source.split(".", 1)[0].strip()
    return head if head in SNAPSHOT_SECTIONS else None


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value if v is not None)
    text = str(value).strip()
    return text or None


def _number(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return number


def coerce(column: str, type_: str, value: Any) -> Any:
    """The value as the column stores it; None for blanks; ValueError when it cannot be that type."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if type_ == "number":
        number = _number(value)
        return float(number) if column in _FLOAT_COLUMNS else number
    if type_ == "integer":
        number = _number(value)
        if number != number.to_integral_value():
            raise ValueError(f"not a whole number: {value!r}")
        return int(number)
    if type_ == "timestamp":
        if isinstance(value, datetime | str):
            return parse_aurora_timestamp(value)
        raise ValueError(f"not a timestamp: {value!r}")
    return _text(value)


@dataclass
class StandardFields:
    contact: dict[str, Any] = field(default_factory=dict)
    project: dict[str, Any] = field(default_factory=dict)
    # Columns whose source section the fetcher did not read this time (see strategies.SECTIONS_READ_ON_DEMAND).
    unknown: set[str] = field(default_factory=set)
    problems: list[dict[str, Any]] = field(default_factory=list)


def standard_fields(snapshot: Mapping[str, Any], context: ImportContext) -> StandardFields:
    result = StandardFields()
    for mapping in STANDARD_MAPPINGS:
        table, column = mapping.target.split(".", 1)
        section = _section(mapping)
        try:
            value = coerce(column, mapping.type, mapping.extract(snapshot, context))
        except (ValueError, TypeError) as exc:
            # A value that does not convert is reported, and is not a reason to blank what the CRM has.
            value = None
            result.unknown.add(column)
            result.problems.append({"field": mapping.target, "source": mapping.source, "error": str(exc)})
        if section in SECTIONS_READ_ON_DEMAND and snapshot.get(section) is None:
            result.unknown.add(column)
        (result.contact if table == "contact" else result.project)[column] = value
    return result
