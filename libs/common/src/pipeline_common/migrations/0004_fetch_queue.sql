-- The fetcher's durable work queue and per-integration leases (services/fetcher/README.md).
--
-- The Kafka consumer only inserts here; per-company workers claim jobs fairly. A company's Aurora key is
-- used by one fetcher copy at a time (the lease), so that copy's in-process rate limiter sees every call.

CREATE TABLE fetch_queue (
    id                   bigserial PRIMARY KEY,
    integration_id       uuid NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    company_id           uuid NOT NULL,
    aurora_project_id    text NOT NULL,
    -- the ImportRequested that created the job; its id derives the ProjectFetched id
    event_id             text NOT NULL UNIQUE,
    payload              jsonb NOT NULL,
    -- 0: live (trigger, re-sync), 1: backfill; lower runs first within an integration
    priority             smallint NOT NULL DEFAULT 0,
    status               text NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'in_progress', 'done', 'parked', 'failed')),
    attempts             integer NOT NULL DEFAULT 0,
    not_before           timestamptz NOT NULL DEFAULT now(),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    claimed_by           text,
    claimed_at           timestamptz,
    finished_at          timestamptz,
    last_error           text,
    -- later events merged into this job while it was still waiting (one fetch serves them all)
    coalesced_event_ids  text[] NOT NULL DEFAULT '{}'
);

-- At most one waiting job per Aurora project: a new event merges into it (coalescing) or resumes it.
CREATE UNIQUE INDEX fetch_queue_one_waiting_per_project ON fetch_queue (integration_id, aurora_project_id)
    WHERE status IN ('pending', 'parked');
CREATE INDEX fetch_queue_pending ON fetch_queue (integration_id, priority, id) WHERE status = 'pending';
CREATE INDEX fetch_queue_in_progress ON fetch_queue (integration_id) WHERE status = 'in_progress';
CREATE INDEX fetch_queue_finished ON fetch_queue (finished_at) WHERE status IN ('done', 'failed');
CREATE INDEX fetch_queue_coalesced ON fetch_queue USING gin (coalesced_event_ids);

CREATE TABLE fetch_leases (
    integration_id  uuid PRIMARY KEY REFERENCES integrations(id) ON DELETE CASCADE,
    owner           text NOT NULL,
    acquired_at     timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL
);

-- Wakes the fetchers' schedulers (LISTEN fetch_queue) as soon as a job becomes claimable; delivered at commit.
CREATE FUNCTION fetch_queue_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fetch_queue', NEW.integration_id::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER fetch_queue_pending_notify
    AFTER INSERT OR UPDATE OF status, not_before ON fetch_queue
    FOR EACH ROW WHEN (NEW.status = 'pending')
    EXECUTE FUNCTION fetch_queue_notify();

-- Puts an integration's parked imports (e.g. parked while Aurora rejected the token) back in the queue, to
-- be called once the company fixed the cause: `SELECT resume_parked_imports($1)` returns how many resumed.
CREATE FUNCTION resume_parked_imports(p_integration_id uuid) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    resumed integer;
BEGIN
    UPDATE fetch_queue
       SET status = 'pending', attempts = 0, not_before = now(), updated_at = now(), last_error = NULL
     WHERE integration_id = p_integration_id AND status = 'parked';
    GET DIAGNOSTICS resumed = ROW_COUNT;
    -- parked_imports (0001) mirrors the parked jobs for the admin's per-project re-sync.
    DELETE FROM parked_imports p
     WHERE p.integration_id = p_integration_id
       AND EXISTS (SELECT 1 FROM fetch_queue q WHERE q.event_id = p.event_id);
    RETURN resumed;
END;
$$;
