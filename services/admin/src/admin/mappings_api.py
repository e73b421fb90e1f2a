"""Field mappings: the standard ones, the Aurora field catalogue and the company's custom mappings."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Response

from admin.errors import ApiError, error_responses, not_found, validation_error
from admin.resources import Resources, resources
from admin.schemas import (
    AuroraFieldOut,
    CustomMappingCreate,
    CustomMappingOut,
    StandardMappingOut,
)
from admin.security import CurrentCompany
from admin.store import (
    require_live,
)
from pipeline_common.integration_log import write_log
from pipeline_common.mapping_catalog import (
    AURORA_FIELDS,
    STANDARD_MAPPINGS,
    PropertyType,
    aurora_field,
    compatible_property_types,
)
from pipeline_common.vocabulary import LogKind

router = APIRouter(prefix="/v1/integrations/aurora", tags=["aurora integration"])
Res = Annotated[Resources, Depends(resources)]


# ---------------------------------------------------------------- mappings


@router.get(
    "/standard-mappings",
    response_model=list[StandardMappingOut],
    summary="The fixed standard field mappings",
    description="What every import writes where. Not customisable; add custom mappings for anything else.",
    responses=error_responses(401),
)
async def standard_mappings(company: CurrentCompany) -> list[StandardMappingOut]:
    return [
        StandardMappingOut(target=m.target, source=m.source, type=m.type, description=m.description)
        for m in STANDARD_MAPPINGS
    ]


@router.get(
    "/aurora-fields",
    response_model=list[AuroraFieldOut],
    summary="Aurora fields a custom mapping can use",
    description="Dotted paths into the snapshot of Aurora data each import fetches, with their types and the "
    "custom property types each can map to.",
    responses=error_responses(401),
)
async def aurora_fields(company: CurrentCompany) -> list[AuroraFieldOut]:
    return [
        AuroraFieldOut(
            path=f.path,
            type=f.type,
            description=f.description,
            example=f.example,
            compatible_property_types=list(compatible_property_types(f.type)),
        )
        for f in AURORA_FIELDS
    ]


_MAPPING_SQL = (
    "SELECT m.id, m.custom_property_id, p.key AS property_key, p.name AS property_name, "
    "p.type AS property_type, m.aurora_path, m.created_at FROM custom_mappings m "
    "JOIN custom_properties p ON p.id = m.custom_property_id "
)


def _mapping(row: Any) -> CustomMappingOut:
    field = aurora_field(row["aurora_path"])
    return CustomMappingOut(**dict(row), aurora_type=field.type if field else None)


@router.get(
    "/custom-mappings",
    response_model=list[CustomMappingOut],
    summary="Custom property mappings",
    responses=error_responses(401, 404),
)
async def list_mappings(company: CurrentCompany, res: Res) -> list[CustomMappingOut]:
    row = await require_live(res.pool, company.id)
    rows = await res.pool.fetch(_MAPPING_SQL + "WHERE m.integration_id = $1 ORDER BY p.key", row["id"])
    return [_mapping(r) for r in rows]


@router.post(
    "/custom-mappings",
    status_code=201,
    response_model=CustomMappingOut,
    summary="Map an Aurora field onto a custom property",
    description="The Aurora field's type must suit the property's type (see `GET .../aurora-fields`). One "
    "mapping per property.",
    responses=error_responses(401, 404, 409, 422),
)
async def create_mapping(body: CustomMappingCreate, company: CurrentCompany, res: Res) -> CustomMappingOut:
    row = await require_live(res.pool, company.id)
    prop = await res.pool.fetchrow(
        "SELECT id, key, type FROM custom_properties WHERE id = $1 AND company_id = $2",
        body.custom_property_id,
        company.id,
    )
    if prop is None:
        raise not_found("custom property")
    path = body.aurora_path.strip()
    field = aurora_field(path)
    if field is None:
        raise validation_error(
            "aurora_path", f"unknown Aurora field {path!r}; GET /v1/integrations/aurora/aurora-fields lists them"
        )
    allowed = compatible_property_types(field.type)
    if PropertyType(prop["type"]) not in allowed:
        raise ApiError(
            422,
            "incompatible_types",
            f"{path} is a {field.type.value} field and cannot fill the {prop['type']} property {prop['key']!r}; "
            f"compatible property types: {', '.join(t.value for t in allowed)}",
            field="aurora_path",
        )
    mapping_id = uuid.uuid4()
    try:
        async with res.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO custom_mappings (id, integration_id, custom_property_id, aurora_path) "
                "VALUES ($1, $2, $3, $4)",
                mapping_id,
                row["id"],
                prop["id"],
                path,
            )
            await write_log(
                conn,
                company_id=company.id,
                integration_id=row["id"],
                kind=LogKind.SETTINGS,
                message=f"custom mapping added: {path} → {prop['key']}",
            )
    except asyncpg.UniqueViolationError:
        raise ApiError(
            409, "already_mapped", f"custom property {prop['key']!r} is already mapped; delete that mapping first"
        ) from None
    created = await res.pool.fetchrow(_MAPPING_SQL + "WHERE m.id = $1", mapping_id)
    return _mapping(created)


@router.delete(
    "/custom-mappings/{mapping_id}",
    status_code=204,
    summary="Remove a custom mapping",
    responses=error_responses(401, 404),
)
async def delete_mapping(mapping_id: uuid.UUID, company: CurrentCompany, res: Res) -> Response:
    row = await require_live(res.pool, company.id)
    async with res.pool.acquire() as conn, conn.transaction():
        path = await conn.fetchval(
            "DELETE FROM custom_mappings WHERE id = $1 AND integration_id = $2 RETURNING aurora_path",
            mapping_id,
            row["id"],
        )
        if path is None:
            raise not_found("custom mapping")
        await write_log(
            conn,
            company_id=company.id,
            integration_id=row["id"],
            kind=LogKind.SETTINGS,
            message=f"custom mapping removed: {path}",
        )
    return Response(status_code=204)
