"""asyncpg pool factory: JSON columns decode to Python values with orjson."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from pipeline_common.settings import DatabaseSettings


async def _init_connection(conn: asyncpg.Connection[Any]) -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(
            typename,
            # Enum members (pipeline_common.vocabulary) are str subclasses and may be keys too.
            encoder=lambda v: orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


async def create_pool(settings: DatabaseSettings) -> asyncpg.Pool[Any]:
    pool = await asyncpg.create_pool(
        settings.database_url.get_secret_value(),
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        init=_init_connection,
    )
    assert pool is not None
    return pool
