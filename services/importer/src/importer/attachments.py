"""Documents attached to the project: the files the fetcher already put in the document store.

A document is its bytes and its kind: (project, kind, sha256) is unique, so a redelivered or repeated import
attaches nothing twice, the same file under two kinds (a layout also uploaded as a spec sheet) is kept twice,
and a file a user uploaded by hand is never taken over by the import.

A document the fetcher could not bring this time (`documents_not_fetched`) is not "gone from Aurora": replace
keeps the copy the project already has, and the next import that brings it attaches it.
"""

from __future__ import annotations

from typing import Any

from pipeline_common.events import DocumentNotFetched, DocumentRef
from pipeline_common.vocabulary import MatchingStrategy

_WRITE = """
WITH incoming AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[])
        AS u(kind, file_name, content_type, sha256, size, aurora_asset_id)
), removed AS (
    DELETE FROM documents d
     WHERE $8 AND d.project_id = $1 AND d.source = 'aurora'
       AND NOT EXISTS (SELECT 1 FROM incoming u WHERE u.kind = d.kind AND u.sha256 = d.sha256)
       AND NOT d.kind = ANY($9::text[])
       AND NOT (d.aurora_asset_id IS NOT NULL AND d.aurora_asset_id = ANY($10::text[]))
    RETURNING 1
), written AS (
    INSERT INTO documents (id, project_id, kind, file_name, content_type, sha256, size, source, aurora_asset_id)
    SELECT gen_random_uuid(), $1, u.kind, u.file_name, u.content_type, u.sha256, u.size, 'aurora',
           u.aurora_asset_id
      FROM incoming u JOIN document_blobs b ON b.sha256 = u.sha256
    ON CONFLICT (project_id, kind, sha256) DO UPDATE SET
        file_name = EXCLUDED.file_name, content_type = EXCLUDED.content_type,
        aurora_asset_id = EXCLUDED.aurora_asset_id
     WHERE documents.source = 'aurora'
       AND (documents.file_name, documents.content_type, documents.aurora_asset_id)
           IS DISTINCT FROM (EXCLUDED.file_name, EXCLUDED.content_type, EXCLUDED.aurora_asset_id)
    RETURNING 1
)
SELECT (SELECT count(*) FROM removed) + (SELECT count(*) FROM written) AS changed,
       ARRAY(SELECT u.sha256 FROM incoming u
              WHERE NOT EXISTS (SELECT 1 FROM document_blobs b WHERE b.sha256 = u.sha256)) AS missing
"""


# The signed agreement comes with the agreement, which the fetcher reads only for agreement triggers: an import
# without it (a project-status trigger, a re-sync) says nothing about that document, so replace keeps it.
AGREEMENT_KINDS = ("signed_agreement",)


async def attach_documents(
    conn: Any,
    project_id: Any,
    documents: list[DocumentRef],
    strategy: MatchingStrategy,
    *,
    is_new: bool,
    agreement_read: bool = True,
    not_fetched: list[DocumentNotFetched] | None = None,
) -> tuple[int, list[str]]:
    """Attaches the documents; returns the rows changed and the sha256 of any not in the document store."""
    replace = strategy is MatchingStrategy.REPLACE and not is_new
    unique = list({(d.kind, d.sha256): d for d in documents}.values())
    kept_kinds = [] if agreement_read else list(AGREEMENT_KINDS)
    kept_sources: list[str] = []
    for missing in not_fetched or ():
        if missing.aurora_asset_id:
            kept_sources.append(missing.aurora_asset_id)
        else:
            kept_kinds.append(missing.kind)
    if not unique and not replace:
        return 0, []
    row = await conn.fetchrow(
        _WRITE,
        project_id,
        [d.kind for d in unique],
        [d.file_name for d in unique],
        [d.content_type for d in unique],
        [d.sha256 for d in unique],
        [d.size for d in unique],
        [d.aurora_asset_id for d in unique],
        replace,
        kept_kinds,
        kept_sources,
    )
    return int(row["changed"] or 0), list(row["missing"] or [])
