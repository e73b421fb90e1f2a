"""Sign-in sessions of the settings page and their CSRF protection.

The cookie carries an opaque random token; the server keeps its SHA-256 with the company, the key it was
opened with, an absolute expiry and a per-session CSRF token (synchronizer-token pattern). Every unsafe
request must echo that CSRF token in the form (`csrf_token`) or in the `X-CSRF-Token` header. The sign-in
form itself has no session yet, so it uses a double-submit cookie instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Request, Response

from admin.resources import resources
from admin.security import Company, hash_api_key

SESSION_COOKIE = "aurora_admin_session"
SIGN_IN_COOKIE = "aurora_admin_sign_in"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class SignInRequiredError(Exception):
    """No valid session: pages redirect to the sign-in form, fetch() calls get a 401."""


class CsrfRejectedError(Exception):
    """An unsafe request without the session's CSRF token: refused with 403, nothing is changed."""


@dataclass(frozen=True)
class Session:
    token_hash: bytes
    company: Company
    csrf_token: str
    flash: dict[str, str] | None


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


async def open_session(request: Request, api_key: str) -> tuple[str, Company] | None:
    """A new session for the company owning `api_key`, or None when the key is unknown or revoked."""
    res = resources(request)
    row = await res.pool.fetchrow(
        "SELECT k.id AS key_id, c.id, c.name FROM company_api_keys k JOIN companies c ON c.id = k.company_id "
        "WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
        hash_api_key(api_key.strip()),
    )
    if row is None:
        return None
    token = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + timedelta(hours=res.settings.session_hours)
    async with res.pool.acquire() as conn, conn.transaction():
        # Housekeeping on sign-in is enough: expired rows are never honoured anyway.
        await conn.execute("DELETE FROM admin_sessions WHERE expires_at < now()")
        await conn.execute(
            "INSERT INTO admin_sessions (token_hash, company_id, api_key_id, csrf_token, expires_at) "
            "VALUES ($1, $2, $3, $4, $5)",
            _hash(token),
            row["id"],
            row["key_id"],
            secrets.token_urlsafe(32),
            expires_at,
        )
    return token, Company(id=row["id"], name=row["name"])


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    res = resources(request)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(res.settings.session_hours * 3600),
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


async def close_session(request: Request, response: Response, session: Session) -> None:
    await resources(request).pool.execute("DELETE FROM admin_sessions WHERE token_hash = $1", session.token_hash)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request))


async def current_session(request: Request) -> Session:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequiredError
    row = await resources(request).pool.fetchrow(
        "SELECT s.token_hash, s.csrf_token, s.flash, c.id, c.name FROM admin_sessions s "
        "JOIN companies c ON c.id = s.company_id JOIN company_api_keys k ON k.id = s.api_key_id "
        "WHERE s.token_hash = $1 AND s.expires_at > now() AND k.revoked_at IS NULL",
        _hash(token),
    )
    if row is None:
        raise SignInRequiredError
    return Session(
        token_hash=row["token_hash"],
        company=Company(id=row["id"], name=row["name"]),
        csrf_token=row["csrf_token"],
        flash=row["flash"],
    )


async def submitted_csrf(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.headers.get("content-type", "").startswith(_FORM_TYPES):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def checked_session(request: Request, session: Annotated[Session, Depends(current_session)]) -> Session:
    """The session, with the CSRF token verified on unsafe methods before the handler runs."""
    if request.method in _UNSAFE:
        supplied = await submitted_csrf(request)
        if not supplied or not hmac.compare_digest(supplied.encode(), session.csrf_token.encode()):
            raise CsrfRejectedError
    return session


PageSession = Annotated[Session, Depends(checked_session)]


# ---------------------------------------------------------------- flash messages (no-JavaScript form posts)


async def set_flash(request: Request, session: Session, kind: str, message: str) -> None:
    await resources(request).pool.execute(
        "UPDATE admin_sessions SET flash = $2 WHERE token_hash = $1",
        session.token_hash,
        {"kind": kind, "message": message},
    )


async def take_flash(request: Request, session: Session) -> dict[str, Any] | None:
    if session.flash is None:
        return None
    await resources(request).pool.execute(
        "UPDATE admin_sessions SET flash = NULL WHERE token_hash = $1", session.token_hash
    )
    return dict(session.flash)


# ---------------------------------------------------------------- the sign-in form's double-submit token


def sign_in_token(request: Request) -> str:
    return request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(32)


def set_sign_in_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SIGN_IN_COOKIE, token, max_age=3600, path="/sign-in", httponly=True, samesite="strict", secure=_secure(request)
    )


def sign_in_token_ok(request: Request, supplied: str) -> bool:
    expected = request.cookies.get(SIGN_IN_COOKIE)
    return bool(expected and supplied) and hmac.compare_digest(supplied.encode(), str(expected).encode())
