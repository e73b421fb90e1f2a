-- Every table has one writing service (README "Who owns which table"). Other services read through the
-- views below, or change another service's table only through the one function its owner documents here.

-- Parked imports live in one place: the fetcher's queue rows with status 'parked'. The table that mirrored
-- them (kept in step by resume_parked_imports) goes; its name stays as a read-only view for readers.
DROP TABLE parked_imports;
CREATE VIEW parked_imports AS
    SELECT event_id, integration_id, aurora_project_id, payload, last_error AS reason, updated_at AS parked_at
      FROM fetch_queue
     WHERE status = 'parked' AND kind = 'import';

CREATE OR REPLACE FUNCTION resume_parked_imports(p_integration_id uuid) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    resumed integer;
BEGIN
    UPDATE fetch_queue
       SET status = 'pending', attempts = 0, not_before = now(), updated_at = now(), last_error = NULL
     WHERE integration_id = p_integration_id AND status = 'parked';
    GET DIAGNOSTICS resumed = ROW_COUNT;
    RETURN resumed;
END;
$$;

-- The fetcher's door for the admin: a backfill's walk starts as one scan job of the fetcher's queue, in the
-- admin's transaction that records the backfill (so neither exists without the other, with no second outbox).
CREATE FUNCTION queue_backfill_scan(p_backfill_id uuid, p_integration_id uuid, p_company_id uuid)
RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO fetch_queue (integration_id, company_id, aurora_project_id, event_id, payload, priority, kind)
    VALUES (p_integration_id, p_company_id, 'backfill:' || p_backfill_id, 'backfill-scan:' || p_backfill_id,
            jsonb_build_object('backfill_id', p_backfill_id::text), 1, 'backfill_scan')
    RETURNING id;
$$;

-- `integrations` is the admin's. What the stages read of it:
CREATE VIEW integration_directory AS          -- trigger filter, fetcher (backfill walks), importer
    SELECT id, company_id, aurora_tenant_id, status, environment, matching_strategy, workflow_id
      FROM integrations;
CREATE VIEW integration_credentials AS        -- fetcher: the encrypted token it decrypts per company
    SELECT id, company_id, aurora_tenant_id, status, token_ciphertext
      FROM integrations;
CREATE VIEW integration_webhook_keys AS       -- gateway: which secret generations a webhook may carry
    SELECT id, webhook_generation, webhook_previous_generation
      FROM integrations;

-- The admin's door for the stages: the fetcher is the first to learn that Aurora rejected a token, and the
-- integration must be flagged before its next job is claimed. True when this call changed the status.
CREATE FUNCTION flag_integration_needs_attention(p_integration_id uuid, p_reason text)
RETURNS boolean LANGUAGE sql AS $$
    WITH changed AS (
        UPDATE integrations SET status = 'needs_attention', status_reason = p_reason, updated_at = now()
         WHERE id = p_integration_id AND status = 'active'
        RETURNING id
    )
    SELECT EXISTS (SELECT 1 FROM changed);
$$;

-- The trigger filter's own record of when a company's webhooks last arrived (was integrations.last_event_at).
CREATE TABLE integration_activity (
    integration_id uuid PRIMARY KEY REFERENCES integrations(id) ON DELETE CASCADE,
    last_event_at  timestamptz NOT NULL
);
INSERT INTO integration_activity (integration_id, last_event_at)
    SELECT id, last_event_at FROM integrations WHERE last_event_at IS NOT NULL;
ALTER TABLE integrations DROP COLUMN last_event_at;
