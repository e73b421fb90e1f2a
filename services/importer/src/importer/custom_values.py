"""Custom mappings: an Aurora value converted into the type of the company's custom property.

A value that does not convert (text where a number is expected, an option the property does not have) is
reported as a problem on the import's log entry and left out; the rest of the import goes ahead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from urllib.parse import urlsplit

import orjson

from importer.integration_settings import CustomMapping
from importer.strategies import SECTIONS_READ_ON_DEMAND
from pipeline_common.aurora.models import parse_aurora_timestamp
from pipeline_common.mapping_catalog import PropertyType, resolve_path, snapshot_says
from pipeline_common.vocabulary import MatchingStrategy


class ConversionError(ValueError):
    pass


_TRUE: Final = frozenset({"true", "yes", "y", "1", "on"})
_FALSE: Final = frozenset({"false", "no", "n", "0", "off"})
_EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_CHARS: Final = re.compile(r"^\+?[\d\s().\-/]+(?:\s*(?:x|ext\.?)\s*\d+)?$", re.IGNORECASE)
# Thousands separators, currency signs and a trailing percent are how numbers arrive as text ("87%").
_NUMBER_NOISE: Final = re.compile(r"[,\s$€£%]")


def _to_number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise ConversionError("a yes/no value is not a number")
    if isinstance(value, int | float):
        number = Decimal(str(value))
    elif isinstance(value, str):
        try:
            number = Decimal(_NUMBER_NOISE.sub("", value))
        except InvalidOperation:
            raise ConversionError(f"{value!r} is not a number") from None
    else:
        raise ConversionError(f"a {type(value).__name__} is not a number")
    if not number.is_finite():
        raise ConversionError(f"{value!r} is not a finite number")
    return int(number) if number == number.to_integral_value() else float(number)


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConversionError(f"{value!r} is not yes/no")


def _to_date(value: Any) -> str:
    # Aurora timestamps are UTC; the property holds a calendar date, the UTC one.
    if not isinstance(value, str | datetime):
        raise ConversionError(f"a {type(value).__name__} is not a date")
    try:
        return parse_aurora_timestamp(value).astimezone(UTC).date().isoformat()
    except ValueError:
        raise ConversionError(f"{value!r} is not an Aurora timestamp") from None


def _to_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value if v is not None)
    if isinstance(value, dict):
        raise ConversionError("an object is not text")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _option(value: Any, options: Sequence[str]) -> str:
    wanted = _to_text(value).strip().casefold()
    for option in options:
        if option.casefold() == wanted:
            return option
    raise ConversionError(f"{_to_text(value)!r} is not an option of this property ({', '.join(options)})")


def _to_options(value: Any, options: Sequence[str]) -> list[str]:
    items = value if isinstance(value, list) else [p for p in _to_text(value).split(",")]
    chosen: list[str] = []
    unknown: list[str] = []
    for item in items:
        if item is None or not str(item).strip():
            continue
        try:
            option = _option(item, options)
        except ConversionError:
            unknown.append(str(item))
            continue
        if option not in chosen:
            chosen.append(option)
    if unknown:
        raise ConversionError(f"{', '.join(repr(u) for u in unknown)} not options of this property")
    return chosen


def _to_url(value: Any) -> str:
    text = _to_text(value).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConversionError(f"{text!r} is not an http(s) URL")
    return text


def _to_email(value: Any) -> str:
    text = _to_text(value).strip()
    if not _EMAIL.match(text):
        raise ConversionError(f"{text!r} is not an email address")
    return text


def _to_phone(value: Any) -> str:
    text = _to_text(value).strip()
    digits = sum(ch.isdigit() for ch in text)
    if not _PHONE_CHARS.match(text) or not 7 <= digits <= 20:
        raise ConversionError(f"{text!r} is not a phone number")
    return text


def convert(value: Any, mapping: CustomMapping) -> Any:
    """The JSON value stored for `mapping`'s property, or None for a blank; ConversionError when it won't fit."""
    if value is None or (isinstance(value, str | list) and not value):
        return None
    kind = mapping.type
    if kind is PropertyType.NUMBER:
        return _to_number(value)
    if kind is PropertyType.BOOLEAN:
        return _to_boolean(value)
    if kind is PropertyType.DATE:
        return _to_date(value)
    if kind is PropertyType.SINGLE_SELECT:
        return _option(value, mapping.options)
    if kind is PropertyType.MULTI_SELECT:
        return _to_options(value, mapping.options) or None
    if kind is PropertyType.URL:
        return _to_url(value)
    if kind is PropertyType.EMAIL:
        return _to_email(value)
    if kind is PropertyType.PHONE:
        return _to_phone(value)
    return _to_text(value).strip() or None


@dataclass
class CustomValues:
    """What one import writes: values to set, properties to blank (replace only), and what did not convert."""

    values: dict[str, Any] = field(default_factory=dict)  # property id → JSON value
    blanks: list[str] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)  # property id → key, for changed_fields

    @property
    def empty(self) -> bool:
        return not self.values and not self.blanks


def custom_values(
    snapshot: Mapping[str, Any], mappings: Sequence[CustomMapping], strategy: MatchingStrategy
) -> CustomValues:
    result = CustomValues()
    for mapping in mappings:
        pid = str(mapping.property_id)
        result.keys[pid] = mapping.key
        raw = resolve_path(snapshot, mapping.aurora_path)
        try:
            value = convert(raw, mapping)
        except ConversionError as exc:
            result.problems.append(
                {
                    "property": mapping.key,
                    "type": mapping.type.value,
                    "aurora_path": mapping.aurora_path,
                    "value": raw if isinstance(raw, str | int | float | bool) else _to_json_text(raw),
                    "error": str(exc),
                }
            )
            continue
        if value is not None:
            result.values[pid] = value
        elif strategy is MatchingStrategy.REPLACE and _aurora_has_none(snapshot, mapping.aurora_path):
            result.blanks.append(pid)
    return result


def _aurora_has_none(snapshot: Mapping[str, Any], path: str) -> bool:
    """Replace blanks a property only on Aurora's word: never because a part of Aurora was not read."""
    section = path.split(".", 1)[0]
    if section in SECTIONS_READ_ON_DEMAND and snapshot.get(section) is None:
        return False
    return snapshot_says(snapshot, path)


def _to_json_text(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()[:500]


_WRITE = """
WITH removed AS (
    DELETE FROM custom_values WHERE project_id = $1 AND property_id = ANY($4::uuid[]) RETURNING property_id
), written AS (
    INSERT INTO custom_values (project_id, property_id, value, updated_at)
    SELECT $1, u.property_id, u.value::jsonb, now() FROM unnest($2::uuid[], $3::text[]) AS u(property_id, value)
    ON CONFLICT (project_id, property_id) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
        WHERE custom_values.value IS DISTINCT FROM EXCLUDED.value
    RETURNING property_id
)
SELECT property_id::text FROM removed UNION ALL SELECT property_id::text FROM written
"""


async def write_custom_values(conn: Any, project_id: Any, values: CustomValues) -> list[str]:
    """Writes the values in one statement; returns the keys of the properties whose value changed."""
    if values.empty:
        return []
    ids = list(values.values)
    rows = await conn.fetch(
        _WRITE,
        project_id,
        ids,
        [orjson.dumps(values.values[i]).decode() for i in ids],
        values.blanks,
    )
    return sorted(values.keys[r["property_id"]] for r in rows)
