-- A backfill's record had three writers; now each part has one, and the view below reads them as one row.
--   backfills         (admin)    the request: params, and its cancellation when the company disconnects
--   backfill_scans    (fetcher)  the walk: cursor, scanned/found/queued, projects it skipped, when it ended
--   backfill_outcomes (importer) what the imports it queued did, counted in each import's own transaction
-- Whether a backfill is running, completed or failed is derived, never stored twice.

CREATE TABLE backfill_scans (
    backfill_id      uuid PRIMARY KEY REFERENCES backfills(id) ON DELETE CASCADE,
    scan_state       jsonb NOT NULL DEFAULT '{}',
    scanned          integer NOT NULL DEFAULT 0,
    found            integer NOT NULL DEFAULT 0,
    queued           integer NOT NULL DEFAULT 0,
    skipped          integer NOT NULL DEFAULT 0,
    scan_finished_at timestamptz,
    error            text,
    failed_at        timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE backfill_outcomes (
    backfill_id uuid PRIMARY KEY REFERENCES backfills(id) ON DELETE CASCADE,
    imported    integer NOT NULL DEFAULT 0,
    skipped     integer NOT NULL DEFAULT 0,
    failed      integer NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO backfill_scans (backfill_id, scan_state, scanned, found, queued, skipped, scan_finished_at, error,
                            failed_at, updated_at)
    SELECT id, scan_state, scanned, found, queued, 0, scan_finished_at,
           CASE WHEN status = 'failed' THEN error END, CASE WHEN status = 'failed' THEN finished_at END, updated_at
      FROM backfills;
INSERT INTO backfill_outcomes (backfill_id, imported, skipped, failed)
    SELECT id, imported, skipped, failed FROM backfills;

-- The admin's own columns: it cancels (disconnect); completion and scan failure are derived below.
UPDATE backfills SET status = 'running', error = NULL, finished_at = NULL WHERE status = 'completed';
ALTER TABLE backfills DROP COLUMN found, DROP COLUMN queued, DROP COLUMN imported, DROP COLUMN skipped,
    DROP COLUMN failed, DROP COLUMN scanned, DROP COLUMN scan_finished_at, DROP COLUMN scan_state;
-- (Its CHECK still admits 'completed', the vocabulary of the view's status; the admin stores only the other two.)
-- One walk at a time per integration: the unique index on the dropped scan_finished_at went with it; the admin
-- now checks under a lock of the integration (admin/backfill.py).

CREATE VIEW backfill_progress AS
    SELECT b.id, b.integration_id, b.params, b.created_at,
           CASE WHEN b.status = 'failed' OR s.failed_at IS NOT NULL THEN 'failed'
                WHEN s.scan_finished_at IS NOT NULL
                     AND coalesce(o.imported, 0) + coalesce(o.skipped, 0) + coalesce(o.failed, 0)
                         + coalesce(s.skipped, 0) >= coalesce(s.found, 0) THEN 'completed'
                ELSE 'running' END AS status,
           coalesce(b.error, s.error) AS error,
           coalesce(s.found, 0) AS found,
           coalesce(s.queued, 0) AS queued,
           coalesce(o.imported, 0) AS imported,
           coalesce(o.skipped, 0) + coalesce(s.skipped, 0) AS skipped,
           coalesce(o.failed, 0) AS failed,
           coalesce(s.scanned, 0) AS scanned,
           s.scan_finished_at,
           CASE WHEN b.status = 'failed' OR s.failed_at IS NOT NULL THEN coalesce(b.finished_at, s.failed_at)
                WHEN s.scan_finished_at IS NOT NULL
                     AND coalesce(o.imported, 0) + coalesce(o.skipped, 0) + coalesce(o.failed, 0)
                         + coalesce(s.skipped, 0) >= coalesce(s.found, 0)
                THEN greatest(s.scan_finished_at, o.updated_at) END AS finished_at,
           greatest(b.updated_at, s.updated_at, o.updated_at) AS updated_at
      FROM backfills b
      LEFT JOIN backfill_scans s ON s.backfill_id = b.id
      LEFT JOIN backfill_outcomes o ON o.backfill_id = b.id;
