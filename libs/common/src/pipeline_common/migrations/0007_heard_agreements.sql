-- Every Aurora agreement the integration has heard of, per Aurora project.
--
-- Aurora has no "list agreements" call, so a project-status trigger, a re-sync or a backfill cannot find a
-- project's agreement by asking. The integration therefore always subscribes to `agreement_status_changed`
-- (whatever the triggers) and the trigger filter records each agreement it hears about here, trigger or not.
--
-- Owner: trigger_filter (the only writer). Others read through `project_agreements()` below.

CREATE TABLE heard_agreements (
    integration_id     uuid NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    agreement_id       text NOT NULL,
    aurora_project_id  text NOT NULL,
    -- The webhook's spelling, normalised (trimmed, lower case). `signed` is sticky: Aurora cannot cancel a
    -- signed agreement, so a late or duplicated earlier status never replaces it.
    status             text NOT NULL,
    design_id          text,
    financing_id       text,
    first_heard_at     timestamptz NOT NULL,
    last_heard_at      timestamptz NOT NULL,
    -- When the `signed` webhook first arrived: Aurora's agreement has no signed_at, this is the signed date.
    signed_at          timestamptz,
    PRIMARY KEY (integration_id, agreement_id)
);
CREATE INDEX heard_agreements_by_project ON heard_agreements (integration_id, aurora_project_id);

-- A project's agreements, the one an import should use first: the latest signed one, else the latest heard.
CREATE FUNCTION project_agreements(p_integration_id uuid, p_aurora_project_id text)
RETURNS TABLE (
    agreement_id text,
    status text,
    design_id text,
    financing_id text,
    first_heard_at timestamptz,
    signed_at timestamptz
) LANGUAGE sql STABLE AS $$
    SELECT agreement_id, status, design_id, financing_id, first_heard_at, signed_at
      FROM heard_agreements
     WHERE integration_id = p_integration_id AND aurora_project_id = p_aurora_project_id
     ORDER BY (signed_at IS NOT NULL) DESC, signed_at DESC NULLS LAST, first_heard_at DESC, agreement_id
$$;

-- One agreement's record (its signed date), whichever project it belongs to.
CREATE FUNCTION heard_agreement(p_integration_id uuid, p_agreement_id text)
RETURNS TABLE (
    agreement_id text,
    status text,
    design_id text,
    financing_id text,
    first_heard_at timestamptz,
    signed_at timestamptz
) LANGUAGE sql STABLE AS $$
    SELECT agreement_id, status, design_id, financing_id, first_heard_at, signed_at
      FROM heard_agreements
     WHERE integration_id = p_integration_id AND agreement_id = p_agreement_id
$$;
