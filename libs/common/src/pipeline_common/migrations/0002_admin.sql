-- Admin service: backfill progress beyond the counters of 0001.
-- `scanned` counts Aurora projects looked at (found counts those a trigger would have imported);
-- `scan_finished_at` marks the end of the walk — imports may still be in flight after it.
ALTER TABLE backfills
    ADD COLUMN scanned          integer NOT NULL DEFAULT 0,
    ADD COLUMN scan_finished_at timestamptz,
    ADD COLUMN updated_at       timestamptz NOT NULL DEFAULT now();

-- One walk at a time per integration.
CREATE UNIQUE INDEX backfills_one_walk_per_integration ON backfills (integration_id)
    WHERE status = 'running' AND scan_finished_at IS NULL;
