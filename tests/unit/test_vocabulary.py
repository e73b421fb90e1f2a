"""Every vocabulary a CHECK constraint restates equals its enum in pipeline_common.vocabulary.

Read from the migrated database (pg_constraint), not from the migration files: what counts is the schema
the services run against after every migration that widened or narrowed a list.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any

import asyncpg

from pipeline_common.aurora.environment import AuroraEnvironment
from pipeline_common.mapping_catalog import PropertyType
from pipeline_common.vocabulary import (
    LOG_KIND_LABELS,
    BackfillStatus,
    ChangeSource,
    FetchJobKind,
    FetchJobStatus,
    IntegrationStatus,
    LineItemKind,
    LogKind,
    MatchingStrategy,
    ProjectType,
    RecordSource,
    StageChangeSource,
    StageOutcome,
    TriggerKind,
)

# (table, column) -> the enum its CHECK must equal.
CHECKED_VOCABULARIES: dict[tuple[str, str], type[Enum]] = {
    ("custom_properties", "type"): PropertyType,
    ("projects", "source"): RecordSource,
    ("line_items", "source"): RecordSource,
    ("line_items", "kind"): LineItemKind,
    ("documents", "source"): RecordSource,
    ("integrations", "environment"): AuroraEnvironment,
    ("integrations", "status"): IntegrationStatus,
    ("integrations", "matching_strategy"): MatchingStrategy,
    ("triggers", "kind"): TriggerKind,
    ("backfills", "status"): BackfillStatus,
    ("fetch_queue", "status"): FetchJobStatus,
    ("fetch_queue", "kind"): FetchJobKind,
    ("requests", "project_type"): ProjectType,
    ("request_stages", "outcome"): StageOutcome,
    ("request_stage_history", "source"): StageChangeSource,
    ("field_changes", "source"): ChangeSource,
}

# `col = ANY (ARRAY['a'::text, 'b'::text])`, which is how PostgreSQL prints `col IN ('a', 'b')`.
_LIST_CHECK = re.compile(r"\(\(?(\w+)\)?(?:::text)? = ANY \(\(?ARRAY\[(.*?)\]\)?(?:::text\[\])?\)\)")


async def _list_checks(pool: asyncpg.Pool[Any]) -> dict[tuple[str, str], set[str]]:
    rows = await pool.fetch(
        "SELECT c.conrelid::regclass::text AS tbl, pg_get_constraintdef(c.oid) AS def "
        "FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
        "WHERE c.contype = 'c' AND n.nspname = current_schema()"
    )
    found: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        for column, items in _LIST_CHECK.findall(row["def"]):
            found[(row["tbl"], column)] = set(re.findall(r"'([^']*)'", items))
    return found


async def test_every_check_listed_vocabulary_equals_its_enum(db_pool: asyncpg.Pool[Any]) -> None:
    checks = await _list_checks(db_pool)
    assert set(checks) == set(CHECKED_VOCABULARIES), "a CHECK lists values that no enum owns, or one was dropped"
    for (table, column), enum in CHECKED_VOCABULARIES.items():
        assert checks[(table, column)] == {m.value for m in enum}, f"{table}.{column} differs from {enum.__name__}"


def test_every_log_kind_has_a_filter_label() -> None:
    assert set(LOG_KIND_LABELS) == set(LogKind)
