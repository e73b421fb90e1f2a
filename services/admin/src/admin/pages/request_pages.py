"""Requests (pre-sale opportunities) as the CRM shows them: the list, the New request form and one request's
page with its link to Aurora and its stage history; and the New project form of the projects list.

Every change goes through the JSON API's own route functions (admin.requests, admin.projects_api), so the
page can never do something the API would refuse, nor refuse differently.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response

from admin import projects_api, request_workflow, requests
from admin.errors import ApiError
from admin.pages.sessions import PageSession
from admin.pages.web import failed, form_values, parse, render, succeeded
from admin.resources import Resources, resources

router = APIRouter(include_in_schema=False)
Res = Annotated[Resources, Depends(resources)]
PAGE_SIZE = 50
CONTACT_FIELDS = ("first_name", "last_name", "email", "phone")
DEAL_FIELDS = ("title", "value", "street_address", "city", "state", "postal_code", "country", "project_type")


def deal_body(form: dict[str, Any]) -> dict[str, Any]:
    """A form's flat fields as the API's body: blanks left out, `contact_*` fields as the inline contact."""
    body: dict[str, Any] = {k: form[k].strip() for k in DEAL_FIELDS if isinstance(form.get(k), str) and form[k].strip()}
    contact = {
        k: form[f"contact_{k}"].strip()
        for k in CONTACT_FIELDS
        if isinstance(form.get(f"contact_{k}"), str) and form[f"contact_{k}"].strip()
    }
    if contact:
        body["contact"] = contact
    if isinstance(form.get("stage_id"), str) and form["stage_id"]:
        body["stage_id"] = form["stage_id"]
    return body


def why_not_creatable(detail: requests.RequestDetail) -> str | None:
    """Coperniq's rule, stated before the click: a project in Aurora needs a value above 0 and an address."""
    if detail.aurora_project_id is not None:
        return "already linked to an Aurora project"
    if detail.value is None or detail.value <= 0:
        return "the request needs a value above 0"
    if not detail.street_address:
        return "the request needs a property address"
    return None


async def _stages(res: Resources, session: Any) -> list[request_workflow.RequestStage]:
    workflows = await request_workflow.list_request_workflows(session.company, res)
    return [s for w in workflows for s in w.stages]


@router.get("/requests")
async def requests_page(
    request: Request, session: PageSession, res: Res, offset: Annotated[int, Query(ge=0)] = 0
) -> Response:
    page = await requests.list_requests(session.company, res, None, PAGE_SIZE, offset)
    return await render(request, "requests.html", session, page=page, offset=offset, stages=await _stages(res, session))


@router.post("/requests")
async def create_request(request: Request, session: PageSession, res: Res) -> Response:
    body = deal_body(await form_values(request))
    try:
        answer = await requests.create_request(parse(requests.RequestCreate, body), session.company, res)
    except ApiError as exc:
        return await failed(request, session, exc, to="/requests#new-request")
    created = orjson.loads(answer.body)
    return await succeeded(request, session, "Request created.", to=f"/requests/{created['id']}")


@router.get("/requests/{request_id}")
async def request_page(request_id: uuid.UUID, request: Request, session: PageSession, res: Res) -> Response:
    try:
        detail = await requests.get_request(request_id, session.company, res)
    except ApiError as exc:
        if exc.status != 404:
            raise
        # Another company's request is indistinguishable from one that does not exist.
        return await render(request, "not_found.html", session, status_code=404, what="request")
    return await render(
        request,
        "request.html",
        session,
        req=detail,
        stages=await _stages(res, session),
        not_creatable=why_not_creatable(detail),
    )


@router.post("/requests/{request_id}/stage")
async def move_request(request_id: uuid.UUID, request: Request, session: PageSession, res: Res) -> Response:
    form = await form_values(request)
    to = f"/requests/{request_id}"
    try:
        body = parse(requests.RequestUpdate, {"stage_id": form.get("stage_id") or None})
        await requests.update_request(request_id, body, session.company, res)
    except ApiError as exc:
        return await failed(request, session, exc, to=to)
    return await succeeded(request, session, "Stage changed.", to=to)


@router.post("/projects/new")
async def create_project(request: Request, session: PageSession, res: Res) -> Response:
    body = deal_body(await form_values(request))
    body.pop("stage_id", None)
    try:
        answer = await projects_api.create_project(parse(projects_api.ProjectCreate, body), session.company, res)
    except ApiError as exc:
        return await failed(request, session, exc, to="/projects#new-project")
    created = orjson.loads(answer.body)
    return await succeeded(request, session, "Project created.", to=f"/projects/{created['id']}")
