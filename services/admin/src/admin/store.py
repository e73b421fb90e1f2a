"""Reading and writing an integration's rows, shared by the routes, the backfill and the CLI."""

from __future__ import annotations

import uuid
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from pydantic import SecretStr

from admin.errors import ApiError
from admin.resources import Resources
from pipeline_common.aurora import AuroraCredentials
from pipeline_common.integration_log import write_log
from pipeline_common.secrets import TokenCipher
from pipeline_common.vocabulary import LogKind

# Column lists below are constants, never user input (hence the S608 waivers).
Db: TypeAlias = "asyncpg.Connection[Any] | asyncpg.Pool[Any] | PoolConnectionProxy[Any]"

INTEGRATION_COLS = (
    "id, company_id, aurora_tenant_id, environment, token_ciphertext, token_hint, status, status_reason, "
    "webhook_generation, workflow_id, matching_strategy, connected_at, disconnected_at, updated_at"
)


async def live_integration(conn: Db, company_id: uuid.UUID) -> Any:
    return await conn.fetchrow(
        f"SELECT {INTEGRATION_COLS} FROM integrations WHERE company_id = $1 AND status <> 'disconnected'",  # noqa: S608
        company_id,
    )


async def latest_integration(conn: Db, company_id: uuid.UUID) -> Any:
    return await conn.fetchrow(
        f"SELECT {INTEGRATION_COLS} FROM integrations WHERE company_id = $1 "  # noqa: S608
        "ORDER BY (status <> 'disconnected') DESC, connected_at DESC LIMIT 1",
        company_id,
    )


def not_connected() -> ApiError:
    return ApiError(404, "not_connected", "Aurora Solar is not connected for this company")


async def require_live(conn: Db, company_id: uuid.UUID) -> Any:
    row = await live_integration(conn, company_id)
    if row is None:
        raise not_connected()
    return row


def credentials(res: Resources, row: Any) -> AuroraCredentials:
    return AuroraCredentials(tenant_id=row["aurora_tenant_id"], token=res.cipher.decrypt(row["token_ciphertext"]))


def token_hint(token: SecretStr) -> str:
    """The key's kind and environment (`sk_sand`, `rk_prod`, `sand`) for display; never any secret part."""
    raw = token.get_secret_value().strip()
    parts = raw.split("_")
    if len(parts) >= 3 and parts[0] in ("sk", "rk") and parts[1] in ("sand", "prod"):
        return f"{parts[0]}_{parts[1]}"
    if raw.startswith("sand_"):
        return "sand"
    return "unprefixed"


async def mark_needs_attention(res: Resources, row: Any, reason: str) -> None:
    async with res.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE integrations SET status = 'needs_attention', status_reason = $2, updated_at = now() "
            "WHERE id = $1 AND status = 'active'",
            row["id"],
            reason,
        )
        await write_log(
            conn,
            company_id=row["company_id"],
            integration_id=row["id"],
            kind=LogKind.NEEDS_ATTENTION,
            message=reason,
        )


async def rotate_token_keys(pool: asyncpg.Pool[Any], cipher: TokenCipher) -> int:
    """Re-encrypt every stored Aurora token under the first configured key; returns how many rows changed.

    Run after prepending a new key to TOKEN_ENCRYPTION_KEYS; once it has run, older keys can be removed.
    """
    changed = 0
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch("SELECT id, token_ciphertext FROM integrations FOR UPDATE")
        for row in rows:
            rotated = cipher.rotate(row["token_ciphertext"])
            await conn.execute("UPDATE integrations SET token_ciphertext = $2 WHERE id = $1", row["id"], rotated)
            changed += 1
    return changed
