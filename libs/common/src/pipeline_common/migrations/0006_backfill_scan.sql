-- The backfill walk runs in the fetcher as queue work (services/fetcher/README.md, "Backfill scans").
--
-- A backfill is one `fetch_queue` row of kind 'backfill_scan' (aurora_project_id 'backfill:<id>'), claimed
-- through the same scheduler and lease as the company's imports, so one process spends the key's budget.
-- Each claim does one step of the walk (one Aurora call at most) and puts the job back, so the company's live
-- jobs and the imports the walk found go first. The walk's cursor lives on the backfill.

ALTER TABLE fetch_queue
    ADD COLUMN kind text NOT NULL DEFAULT 'import' CHECK (kind IN ('import', 'backfill_scan'));

ALTER TABLE backfills
    -- {"page": n, "pending": [project, ...], "found": n, "done": bool}: where the walk resumes
    ADD COLUMN scan_state jsonb NOT NULL DEFAULT '{}';
