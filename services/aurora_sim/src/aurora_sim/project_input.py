"""Create/Update Project bodies: both documented address shapes, strict optional strings, all errors at once.

Aurora's validation error body is documented only by third parties (`{"errors": [{"message": ...}]}`,
reference §4.2, UNCERTAIN); no per-field key is documented, so each problem is one `errors[]` item whose
message starts with the field's name (`"customer_email must be a string"`), the way the one known
Create Project message reads.
"""

from typing import Any

from starlette.responses import Response

from aurora_sim.errors import AuroraError, JSONBytes
from aurora_sim.generator import geocode
from aurora_sim.store import Store

STRING_FIELDS = (
    "name",
    "external_provider_id",
    "status",
    "customer_salutation",
    "customer_first_name",
    "customer_last_name",
    "customer_email",
    "customer_phone",
    "mailing_address",
    "owner_id",
    "team_id",
    "partner_id",
)
MAX_STRING = 255
NEEDS_PLACE = "location must include property_address or latitude and longitude"


class ProjectInputError(AuroraError):
    """422 listing every problem of the body, one `errors[]` item each."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__(422, "; ".join(messages))
        self.messages = messages

    def response(self) -> Response:
        return JSONBytes({"errors": [{"message": m} for m in self.messages]}, status_code=self.status)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _place(payload: dict[str, Any], problems: list[str]) -> dict[str, Any] | None:
    """The address/coordinates given in either shape, or None when the body names no place at all.

    2024.05 nests them under `location` (`property_address`, `latitude`, `longitude`); the older documented
    body has them at the top level (`address`, `latitude`, `longitude`). Aurora's docs show both, so both are
    accepted; giving the same thing twice with different values is refused rather than silently picking one.
    """
    found: dict[str, Any] = {}
    labels: dict[str, str] = {}
    sources: list[tuple[str, dict[str, Any]]] = []
    if "location" in payload:
        location = payload["location"]
        if not isinstance(location, dict):
            problems.append("location must be an object")
        else:
            sources.append(
                ("location.", {k: location[k] for k in ("property_address", "latitude", "longitude") if k in location})
            )
    legacy = {}
    for name, key in (("address", "property_address"), ("latitude", "latitude"), ("longitude", "longitude")):
        if name in payload:
            legacy[key] = payload[name]
    if legacy:
        sources.append(("", legacy))
    if not sources:
        return None
    for prefix, values in sources:
        for key, value in values.items():
            label = f"{prefix}{key}" if prefix else ("address" if key == "property_address" else key)
            if key == "property_address":
                if not isinstance(value, str):
                    problems.append(f"{label} must be a string")
                    continue
                if len(value) > MAX_STRING:
                    problems.append(f"{label} is too long (maximum is {MAX_STRING} characters)")
                    continue
                value = value.strip()
                if not value:
                    continue
            elif not _is_number(value):
                problems.append(f"{label} must be a number")
                continue
            if key in found and found[key] != value:
                problems.append(f"{labels[key]} and {label} disagree")
                continue
            found[key], labels[key] = value, label
    return found


def validate_project(store: Store, tenant_id: str, payload: dict[str, Any], creating: bool) -> dict[str, Any]:
    """The stored project fields this body sets; raises ProjectInputError naming every problem."""
    problems: list[str] = []
    data: dict[str, Any] = {}
    for name in STRING_FIELDS:
        if name not in payload:
            continue
        value = payload[name]
        # Aurora rejects JSON null on optional strings; omit the key instead (reference §4.2).
        if not isinstance(value, str):
            problems.append(f"{name} must be a string")
        elif len(value) > MAX_STRING:
            problems.append(f"{name} is too long (maximum is {MAX_STRING} characters)")
        else:
            data[name] = value
    if "owner_id" in data:
        owner = store.users.get(data["owner_id"])
        if owner is None or owner.tenant_id != tenant_id:
            problems.append("owner_id is not a user of this tenant")
    if "project_type" in payload:
        if payload["project_type"] not in ("residential", "commercial"):
            problems.append("project_type must be one of residential, commercial")
        else:
            data["project_type"] = payload["project_type"]
    for name in ("tags", "preferred_solar_modules"):
        if name in payload:
            items = payload[name]
            if not isinstance(items, list) or not all(isinstance(t, str) for t in items):
                problems.append(f"{name} must be an array of strings")
            else:
                data[name] = list(items)
    place = _place(payload, problems)
    if place is not None or creating:
        place = place or {}
        address = place.get("property_address")
        lat, lon = place.get("latitude"), place.get("longitude")
        has_point = lat is not None and lon is not None
        if (lat is None) != (lon is None) and not address:
            problems.append("latitude and longitude must be given together")
        elif not address and not has_point:
            if not any(p.startswith(("location", "address", "latitude", "longitude")) for p in problems):
                problems.append(NEEDS_PLACE)
        elif has_point and not (-90 <= float(lat or 0) <= 90 and -180 <= float(lon or 0) <= 180):
            problems.append("latitude/longitude out of range")
        elif not problems:
            data["location"] = geocode(
                {
                    "property_address": address or None,
                    "latitude": lat if has_point else None,
                    "longitude": lon if has_point else None,
                }
            )
    if problems:
        raise ProjectInputError(problems)
    return data
