"""Signing in to the settings page with the company's API key, and signing out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from admin.pages import sessions
from admin.pages.sessions import PageSession, SignInRequiredError
from admin.pages.web import form_values, local_path, redirect, render

router = APIRouter(include_in_schema=False)
HOME = "/settings/integrations"


@router.get("/")
async def home(request: Request) -> Response:
    try:
        await sessions.current_session(request)
    except SignInRequiredError:
        return redirect("/sign-in")
    return redirect(HOME)


async def _sign_in_page(request: Request, next_: str, error: str | None, status_code: int = 200) -> Response:
    token = sessions.sign_in_token(request)
    response = await render(
        request, "sign_in.html", None, status_code=status_code, sign_in_token=token, next=next_, error=error
    )
    sessions.set_sign_in_cookie(request, response, token)
    return response


@router.get("/sign-in")
async def sign_in_form(request: Request, next_: Annotated[str | None, Query(alias="next")] = None) -> Response:
    return await _sign_in_page(request, local_path(next_, HOME), None)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await form_values(request)
    next_ = local_path(str(form.get("next") or ""), HOME)
    if not sessions.sign_in_token_ok(request, str(form.get(sessions.CSRF_FIELD) or "")):
        # Usually a sign-in page left open past its cookie's life; a fresh form fixes it.
        return await _sign_in_page(
            request, next_, "The sign-in form expired or was not sent from this site; please try again.", 403
        )
    opened = await sessions.open_session(request, str(form.get("api_key") or ""))
    if opened is None:
        return await _sign_in_page(request, next_, "That company key is not valid (unknown or revoked).", 401)
    token, _company = opened
    response = redirect(next_)
    sessions.set_session_cookie(request, response, token)
    response.delete_cookie(sessions.SIGN_IN_COOKIE, path="/sign-in")
    return response


@router.post("/sign-out")
async def sign_out(request: Request, session: PageSession) -> Response:
    response = redirect("/sign-in")
    await sessions.close_session(request, response, session)
    return response
