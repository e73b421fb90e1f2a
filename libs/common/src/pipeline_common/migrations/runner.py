"""Applies the versioned SQL files of this package in order, each in its own transaction.

A Postgres advisory lock makes concurrent runs (several services starting at once) safe: the second waits,
then finds nothing left to apply.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import asyncpg

_LOCK_ID = 7_250_431_118


def available() -> list[tuple[str, str]]:
    files = resources.files(__package__)
    names = sorted(f.name for f in files.iterdir() if f.name.endswith(".sql"))
    return [(name.removesuffix(".sql"), files.joinpath(name).read_text()) for name in names]


async def migrate(conn: asyncpg.Connection[Any]) -> list[str]:
    """Apply every pending migration; return the versions applied now."""
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
    try:
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, sql in available():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            applied_now.append(version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
    return applied_now
