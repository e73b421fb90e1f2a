"""Rendering and answering for the settings page: one place for templates, headers and form-post outcomes.

A form post answers in two ways: fetch() calls (Accept: application/json) get `{"ok", "message"}` or the
API's error shape, so the page can show the outcome in place; plain form posts (no JavaScript) get a
redirect and the outcome as a one-time flash message on the next page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError

from admin.errors import ApiError
from admin.pages.sessions import Session, set_flash, take_flash

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

# The page loads nothing from elsewhere and runs no inline script: a strict policy costs nothing.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

M = TypeVar("M", bound=BaseModel)


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def local_path(target: str | None, default: str) -> str:
    # Only same-site paths: `next=//evil.example` must not turn sign-in into an open redirect.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


async def render(
    request: Request,
    template: str,
    session: Session | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    flash = await take_flash(request, session) if session is not None else None
    response = templates.TemplateResponse(
        request,
        template,
        {
            "company": session.company if session else None,
            "csrf_token": session.csrf_token if session else None,
            "flash": flash,
            "path": request.url.path,
            **context,
        },
        status_code=status_code,
    )
    response.headers.update(_PAGE_HEADERS)
    return response


def redirect(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    response.headers.update(_PAGE_HEADERS)
    return response


async def succeeded(
    request: Request, session: Session, message: str, *, to: str, data: dict[str, Any] | None = None
) -> Response:
    if wants_json(request):
        if request.headers.get("X-Then-Reload"):
            # The page reloads itself next; the outcome must survive that reload.
            await set_flash(request, session, "success", message)
        return JSONResponse({"ok": True, "message": message, "redirect": None, **(data or {})})
    await set_flash(request, session, "success", message)
    return redirect(to)


async def failed(request: Request, session: Session, exc: ApiError, *, to: str) -> Response:
    if wants_json(request):
        detail: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.field is not None:
            detail["field"] = exc.field
        return JSONResponse({"ok": False, "error": detail}, status_code=exc.status)
    await set_flash(request, session, "error", exc.message)
    return redirect(to)


def moved(request: Request, to: str) -> Response:
    """Success that lands on another page (connect → configuration page)."""
    if wants_json(request):
        return JSONResponse({"ok": True, "redirect": to})
    return redirect(to)


def parse(model: type[M], data: dict[str, Any]) -> M:
    """A form's values as the API's request model; its validation errors read like the API's."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()) if not isinstance(p, int)) or "form"
        message = "this field is required" if first.get("type") == "missing" else str(first.get("msg"))
        raise ApiError(422, "validation_error", f"{loc.replace('_', ' ')}: {message}", field=loc) from None


async def form_values(request: Request) -> dict[str, Any]:
    """Single values as strings, repeated fields (checkbox groups) as lists."""
    form = await request.form()
    out: dict[str, Any] = {}
    for key in form:
        values = [v for v in form.getlist(key) if isinstance(v, str)]
        out[key] = values if len(values) > 1 else (values[0] if values else "")
    return out


def sign_in_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/sign-in?next=" + quote(target, safe="")
