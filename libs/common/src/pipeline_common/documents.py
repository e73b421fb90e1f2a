"""The document store: files in Postgres, addressed by the SHA-256 of their bytes, so a document that
arrives again (a redelivered import, the same PDF on two projects) is stored once."""

from __future__ import annotations

import hashlib
from typing import Any

import asyncpg


def sha256_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


async def store_blob(conn: asyncpg.Pool[Any] | asyncpg.Connection[Any], content: bytes, content_type: str) -> str:
    digest = sha256_of(content)
    await conn.execute(
        "INSERT INTO document_blobs (sha256, content, size, content_type) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (sha256) DO NOTHING",
        digest,
        content,
        len(content),
        content_type,
    )
    return digest
