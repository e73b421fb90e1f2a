"""After everything else in the session ran: no Aurora token or webhook secret appears in anything the run
produced — service logs, every message on every topic (including retry and dead-letter topics), the
integration log, or the settings page/API responses recorded by the admin tests.

This test is ordered last by tests/conftest.py (marker `audit`), so it sees the whole session's output.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from pipeline_common import topics
from pipeline_common.secrets import TokenCipher, TokenCipherError, WebhookSigner
from pipeline_devtools.ops.kafka_view import scan
from tests.fixtures.pipeline import SIGNING_KEYS, TOKEN_KEYS, Pipeline

pytestmark = pytest.mark.audit


async def session_secrets(db: asyncpg.Pool[Any]) -> set[str]:
    cipher = TokenCipher([TOKEN_KEYS])
    signer = WebhookSigner([SIGNING_KEYS])
    secrets: set[str] = set()
    for row in await db.fetch("SELECT id::text, token_ciphertext, webhook_generation FROM integrations"):
        # Rows written directly by component tests carry a placeholder: there is no token to leak.
        with contextlib.suppress(TokenCipherError):
            secrets.add(cipher.decrypt(row["token_ciphertext"]).get_secret_value())
        for generation in range(1, row["webhook_generation"] + 1):
            secrets.add(signer.secret_for(row["id"], generation))
    return secrets


async def test_no_token_or_webhook_secret_anywhere(
    pipeline: Pipeline, db_pool: asyncpg.Pool[Any], kafka_bootstrap: str
) -> None:
    secrets = await session_secrets(db_pool)
    assert secrets, "the session connected integrations, so there are secrets to look for"
    needles = [s.encode() for s in secrets]
    places = 0

    logs = sorted(Path(pipeline.stack.log_dir).glob("*.log"))  # noqa: ASYNC240 - a few small files, once
    assert logs, "the pipeline wrote logs"
    for path in logs:
        content = path.read_bytes()
        places += 1
        leaked = [n for n in needles if n in content]
        assert not leaked, f"a secret appears in {path.name}"

    for topic in topics.every_topic():
        async for record in scan(kafka_bootstrap, topic):
            places += 1
            blob = record.value + repr(record.headers).encode()
            assert not any(n in blob for n in needles), (
                f"a secret appears in {topic} p{record.partition}@{record.offset}"
            )

    rows = await db_pool.fetch("SELECT message, details::text AS details FROM integration_log")
    for row in rows:
        text = f"{row['message']} {row['details']}".encode()
        assert not any(n in text for n in needles), f"a secret appears in the integration log: {row['message']}"
    assert places > 10
