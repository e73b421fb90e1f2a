"""What requests and CRM-made projects share on the way in: the property address, the value and the contact
(an existing one by `contact_id`, or given inline), with the rules the API answers 422 for.

Field names are the project resource's (`street_address`, `postal_code`, …). Rules that span fields are
checked after parsing, on the values the record will end with (for a PATCH: stored values merged with the
patch), and every broken one is reported at once.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Final, TypeAlias

from asyncpg.pool import PoolConnectionProxy
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from pipeline_common.vocabulary import ProjectType

ADDRESS_COLUMNS: Final = ("street_address", "city", "state", "postal_code", "country", "latitude", "longitude")
CONTACT_FIELDS: Final = ("salutation", "first_name", "last_name", "email", "phone", "mailing_address")
_EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")

# A pooled connection; a string because PoolConnectionProxy is generic only to type checkers.
Conn: TypeAlias = "PoolConnectionProxy[Any]"


def _blank_is_none(value: Any) -> Any:
    # "  " in a form field means "no value", the same as leaving it out.
    if isinstance(value, str):
        value = " ".join(value.split())
        return value or None
    return value


Text = Annotated[Annotated[str, Field(max_length=300)] | None, BeforeValidator(_blank_is_none)]
Value = Annotated[Decimal | None, Field(ge=0, max_digits=14, decimal_places=2, description="In the company's currency")]
Latitude = Annotated[float | None, Field(ge=-90, le=90)]
Longitude = Annotated[float | None, Field(ge=-180, le=180)]


class ContactFields(BaseModel):
    """A contact given inline, or the body of POST/PATCH /v1/contacts."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"first_name": "Jane", "last_name": "Doe", "email": "jane@example.com", "phone": "+1 480 555 0100"}
            ]
        },
    )

    salutation: Text = None
    first_name: Text = None
    last_name: Text = None
    email: Text = None
    phone: Text = None
    mailing_address: Text = None


def contact_errors(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    email = values.get("email")
    if email is not None and not _EMAIL.match(email):
        errors.append((f"{prefix}email", "is not an email address"))
    if not any(values.get(f) for f in ("first_name", "last_name", "email", "phone")):
        errors.append((f"{prefix}last_name", "a contact needs a name, an email or a phone"))
    return errors


def address_errors(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """An address is optional, but one that is given has a street and a postal code (what matching keys on)."""
    errors: list[tuple[str, str]] = []
    if any(values.get(c) is not None for c in ADDRESS_COLUMNS):
        for column in ("street_address", "postal_code"):
            if values.get(column) is None:
                errors.append((column, "an address needs a street and a postal code"))
    if (values.get("latitude") is None) != (values.get("longitude") is None):
        missing = "longitude" if values.get("longitude") is None else "latitude"
        errors.append((missing, "latitude and longitude go together"))
    return errors


def full_address(values: Mapping[str, Any]) -> str | None:
    """'42 Mesquite Ln, Mesa, AZ 85201, USA', the shape Aurora's property_address has."""
    region = " ".join(v for v in (values.get("state"), values.get("postal_code")) if v)
    parts = [values.get("street_address"), values.get("city"), region, values.get("country")]
    text = ", ".join(p for p in parts if p)
    return text or None


async def contact_exists(conn: Conn, company_id: uuid.UUID, contact_id: uuid.UUID) -> bool:
    found = await conn.fetchval("SELECT true FROM contacts WHERE id = $1 AND company_id = $2", contact_id, company_id)
    return bool(found)


# An inline contact whose email the company already has *is* that contact: its blanks are filled, nothing of
# it is overwritten, and no second contact appears (contacts are unique per lower(email) in a company).
_SAVE_INLINE: Final = (
    "INSERT INTO contacts (id, company_id, salutation, first_name, last_name, email, phone, mailing_address) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
    "ON CONFLICT (company_id, lower(email)) WHERE email IS NOT NULL DO UPDATE SET "
    + ", ".join(f"{c} = coalesce(contacts.{c}, EXCLUDED.{c})" for c in CONTACT_FIELDS if c != "email")
    + ", updated_at = now() RETURNING id"
)


async def save_inline_contact(conn: Conn, company_id: uuid.UUID, contact: ContactFields) -> uuid.UUID:
    contact_id: uuid.UUID = await conn.fetchval(
        _SAVE_INLINE, uuid.uuid4(), company_id, *(getattr(contact, c) for c in CONTACT_FIELDS)
    )
    return contact_id


class DealFields(BaseModel):
    """The fields a request and a CRM-made project share; all optional here, a create adds what it requires."""

    model_config = ConfigDict(extra="forbid")

    value: Value = None
    contact_id: uuid.UUID | None = Field(default=None, description="An existing contact of the company")
    contact: ContactFields | None = Field(
        default=None,
        description="A contact given inline instead of `contact_id`: created, or the existing contact with that email",
    )
    street_address: Text = None
    city: Text = None
    state: Text = None
    postal_code: Text = None
    country: Text = None
    latitude: Latitude = None
    longitude: Longitude = None
    project_type: ProjectType | None = None


async def resolve_contact(
    conn: Conn, company_id: uuid.UUID, body: DealFields, errors: list[tuple[str, str]]
) -> uuid.UUID | None:
    """The contact id the record points at (None: none); a problem is appended to `errors` instead."""
    if body.contact_id is not None and body.contact is not None:
        errors.append(("contact", "give contact_id or contact, not both"))
        return None
    if body.contact is not None:
        problems = contact_errors(body.contact.model_dump(), prefix="contact.")
        if problems:
            errors.extend(problems)
            return None
        return await save_inline_contact(conn, company_id, body.contact)
    if body.contact_id is not None and not await contact_exists(conn, company_id, body.contact_id):
        # Another company's contact is as unknown as one that does not exist.
        errors.append(("contact_id", "unknown contact"))
        return None
    return body.contact_id
