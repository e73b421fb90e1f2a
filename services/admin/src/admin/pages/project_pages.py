"""Projects as the CRM shows them: the list, one project's page and its document downloads."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from admin import crm, history_api
from admin.errors import ApiError
from admin.pages.sessions import PageSession
from admin.pages.web import render
from admin.resources import Resources, resources

router = APIRouter(prefix="/projects", include_in_schema=False)
Res = Annotated[Resources, Depends(resources)]
PAGE_SIZE = 50


@router.get("")
async def projects_page(
    request: Request,
    session: PageSession,
    res: Res,
    aurora_project_id: Annotated[str | None, Query(max_length=200)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    aurora_project_id = (aurora_project_id or "").strip() or None
    page = await crm.list_projects(session.company, res, aurora_project_id, PAGE_SIZE, offset)
    return await render(
        request, "projects.html", session, page=page, aurora_project_id=aurora_project_id, offset=offset
    )


@router.get("/{project_id}")
async def project_page(project_id: uuid.UUID, request: Request, session: PageSession, res: Res) -> Response:
    try:
        project = await crm.get_project(project_id, session.company, res)
    except ApiError as exc:
        if exc.status != 404:
            raise
        # Another company's project is indistinguishable from one that does not exist.
        return await render(request, "not_found.html", session, status_code=404, what="project")
    workflows = {w.id: w.name for w in await crm.list_workflows(session.company, res)}
    return await render(
        request,
        "project.html",
        session,
        project=project,
        workflow_name=workflows.get(project.workflow_id) if project.workflow_id else None,
        history=await history_api.project_history(project_id, session.company, res, None, None, 50),
    )


@router.get("/{project_id}/documents/{document_id}")
async def download(
    project_id: uuid.UUID, document_id: uuid.UUID, request: Request, session: PageSession, res: Res
) -> Response:
    try:
        return await crm.download_document(project_id, document_id, session.company, res)
    except ApiError as exc:
        if exc.status != 404:
            raise
        return await render(request, "not_found.html", session, status_code=404, what="document")
