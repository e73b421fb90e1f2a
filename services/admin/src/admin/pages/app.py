"""Wires the settings page into the admin app: routes, static files, and what a missing session or CSRF
token answers (pages redirect to the sign-in form; fetch() calls get the API's error shape)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from admin.errors import error_response
from admin.pages import auth, integration_pages, project_pages, request_pages
from admin.pages.sessions import CSRF_HEADER, CsrfRejectedError, SignInRequiredError
from admin.pages.web import HERE, redirect, render, sign_in_url, templates, wants_json


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "—"


def _number(value: Decimal | float | int | None, places: int = 2) -> str:
    if value is None:
        return "—"
    return f"{value:,.{places}f}"


def _size(value: int) -> str:
    if value < 1024:
        return f"{value} bytes"
    if value < 1024 * 1024:
        return f"{value / 1024:.1f} KB"
    return f"{value / 1024 / 1024:.1f} MB"


def _label(value: str | None) -> str:
    return (value or "").replace("_", " ").capitalize()


def _custom_value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return "—" if value is None else str(value)


def install(app: FastAPI) -> None:
    templates.env.filters.update(when=_when, number=_number, size=_size, label=_label, custom_value=_custom_value)

    @app.exception_handler(SignInRequiredError)
    async def _sign_in(request: Request, _: SignInRequiredError) -> Response:
        if wants_json(request) or CSRF_HEADER in request.headers:
            return error_response(401, "unauthorized", "your session has ended; sign in again")
        return redirect(sign_in_url(request) if request.method == "GET" else "/sign-in")

    @app.exception_handler(CsrfRejectedError)
    async def _csrf(request: Request, _: CsrfRejectedError) -> Response:
        message = "the request did not carry this page's security token; reload the page and try again"
        if wants_json(request):
            return error_response(403, "csrf_failed", message)
        return await render(request, "error.html", None, status_code=403, title="Request refused", message=message)

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(auth.router)
    app.include_router(integration_pages.router)
    app.include_router(request_pages.router)
    app.include_router(project_pages.router)
