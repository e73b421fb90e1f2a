"""Aurora answers `null` where its examples show a list or an object. A response in which every nullable field
is null must still read, with null lists and mappings read as empty (issue 11, defect 4).

The payloads are generated from the models themselves, so a field added later is covered without editing
this file.
"""

from __future__ import annotations

import types
import typing
from typing import Any, get_args, get_origin

import httpx
import pytest
import respx
from pydantic import BaseModel

from pipeline_common.aurora import (
    Agreement,
    AgreementDownloadJob,
    Asset,
    ConsumptionProfile,
    Design,
    DesignSummary,
    Financing,
    NullAsEmpty,
    Pricing,
    Project,
    Proposal,
    Tenant,
    User,
    Webhook,
    WebProposal,
)

from .conftest import API, CREDS, Harness

# Every model the client returns from a response.
RESPONSES: list[type[BaseModel]] = [
    Tenant,
    Project,
    Design,
    DesignSummary,
    Pricing,
    Financing,
    Agreement,
    AgreementDownloadJob,
    Proposal,
    WebProposal,
    Asset,
    User,
    ConsumptionProfile,
    Webhook,
]


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, directly or as list items (`Location | None`, `list[CostItem]`, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _nested_model(arg)
        if found is not None:
            return found
    return None


def _is_container(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _is_container(get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        # `str | dict | None` keeps None as "absent"; only a plain list or mapping reads null as empty.
        return all(_is_container(a) for a in get_args(annotation) if a is not type(None))
    return origin in (list, dict) or annotation in (list, dict)


def all_null(model: type[BaseModel], *, inside: bool) -> dict[str, Any]:
    """Every optional field null, required ones (ids, a status) set. With `inside`, an object or a list of
    objects is present with all of its own fields null instead, so nested nulls are read too."""
    body: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if field.is_required():
            body[name] = "x"
            continue
        nested = _nested_model(field.annotation)
        if inside and nested is not None:
            item = all_null(nested, inside=True)
            body[name] = [item] if _is_container(field.annotation) else item
        else:
            body[name] = None
    return body


@pytest.mark.parametrize("inside", [False, True], ids=["fields null", "nested fields null"])
@pytest.mark.parametrize("model", RESPONSES, ids=lambda m: m.__name__)
def test_a_response_whose_every_nullable_field_is_null_reads(model: type[BaseModel], inside: bool) -> None:
    parsed = model.model_validate(all_null(model, inside=inside))
    for name, field in model.model_fields.items():
        value = getattr(parsed, name)
        if _is_container(field.annotation) and not (inside and _nested_model(field.annotation)):
            assert value in ([], {}), f"{model.__name__}.{name} = {value!r}"


def test_the_lists_the_issue_names_read_as_empty() -> None:
    project = Project.model_validate({"id": "p", "tags": None, "preferred_solar_modules": None})
    assert (project.tags, project.preferred_solar_modules) == ([], [])
    summary = DesignSummary.model_validate(
        {"design_id": "d", "bill_of_materials": None, "arrays": None, "energy_production": {"monthly": None}}
    )
    assert summary.bill_of_materials == []
    assert summary.arrays == []
    assert summary.energy_production is not None
    assert summary.energy_production.monthly == []
    assert summary.module_count == 0
    pricing = Pricing.model_validate({"system_cost_breakdown": [{"component": "adders", "items": None}]})
    assert pricing.system_cost_breakdown[0].items == []
    design = Design.model_validate({"id": "d", "milestone": {"milestone": None, "created_at": None}})
    assert design.milestone_name is None


def test_every_list_in_the_models_tolerates_null() -> None:
    """A new list or mapping declared without NullAsEmpty fails here, before Aurora dead-letters an import."""
    strict = [
        f"{model.__name__}.{name}"
        for model in _reachable(RESPONSES)
        for name, field in model.model_fields.items()
        if _is_container(field.annotation) and not field.is_required() and not _accepts_null(model, name)
    ]
    assert strict == []


def _reachable(models: list[type[BaseModel]]) -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = []
    todo = list(models)
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.append(model)
        todo += [n for f in model.model_fields.values() if (n := _nested_model(f.annotation)) is not None]
    return seen


def _accepts_null(model: type[BaseModel], name: str) -> bool:
    required = {n: "x" for n, f in model.model_fields.items() if f.is_required()}
    try:
        model.model_validate({**required, name: None})
    except ValueError:
        return False
    return True


def test_null_as_empty_only_wraps_containers() -> None:
    class Odd(BaseModel):
        value: NullAsEmpty[list[int]] = []
        mapping: NullAsEmpty[dict[str, int]] = {}

    assert Odd.model_validate({"value": None, "mapping": None}) == Odd()
    with pytest.raises(TypeError, match="list or dict"):

        class Wrong(BaseModel):
            value: NullAsEmpty[int] = 0


async def test_a_null_list_envelope_reads_as_empty(harness: Harness, respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{API}/projects/p1/designs").mock(return_value=httpx.Response(200, json={"designs": None}))
    assert await harness.client.list_designs(CREDS, "p1") == []
