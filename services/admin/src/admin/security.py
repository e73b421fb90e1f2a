"""Who is calling: the operator (environment token) or a company (API key shown once, stored as SHA-256)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from admin.errors import ApiError
from admin.resources import Resources, resources

KEY_PREFIX = "crm_"

_bearer = HTTPBearer(auto_error=False, description="The company's API key (or the operator token)")


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> bytes:
    # Keys are 256 bits of randomness, so a plain hash is enough: there is nothing to brute-force.
    return hashlib.sha256(key.encode()).digest()


async def create_company(conn: asyncpg.Connection[Any] | PoolConnectionProxy[Any], name: str) -> tuple[uuid.UUID, str]:
    """Insert a company and its first key; the key is returned once and never stored in clear."""
    company_id = uuid.uuid4()
    key = new_api_key()
    async with conn.transaction():
        await conn.execute("INSERT INTO companies (id, name) VALUES ($1, $2)", company_id, name)
        await conn.execute(
            "INSERT INTO company_api_keys (id, company_id, key_hash, key_prefix) VALUES ($1, $2, $3, $4)",
            uuid.uuid4(),
            company_id,
            hash_api_key(key),
            key[: len(KEY_PREFIX) + 6],
        )
    return company_id, key


@dataclass(frozen=True)
class Company:
    id: uuid.UUID
    name: str


def _unauthorized(message: str = "missing or unknown API key") -> ApiError:
    return ApiError(401, "unauthorized", message)


async def require_operator(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    expected = resources(request).settings.operator_token
    if expected is None or not expected.get_secret_value():
        raise _unauthorized("operator access is not configured on this server (OPERATOR_TOKEN)")
    if credentials is None or not hmac.compare_digest(
        credentials.credentials.encode(), expected.get_secret_value().encode()
    ):
        raise _unauthorized("missing or wrong operator token")


async def current_company(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Company:
    if credentials is None:
        raise _unauthorized()
    res: Resources = resources(request)
    row = await res.pool.fetchrow(
        "SELECT c.id, c.name FROM company_api_keys k JOIN companies c ON c.id = k.company_id "
        "WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
        hash_api_key(credentials.credentials),
    )
    if row is None:
        raise _unauthorized()
    return Company(id=row["id"], name=row["name"])


CurrentCompany = Annotated[Company, Depends(current_company)]
