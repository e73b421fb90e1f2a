-- The CRM side (companies, workflows, custom properties, contacts, projects and what hangs off them)
-- and the integration side (integrations, triggers, mappings, log, pipeline bookkeeping).

-- ---------------------------------------------------------------- CRM
CREATE TABLE companies (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- API keys are stored as SHA-256 of the key: a key is shown once, at creation.
CREATE TABLE company_api_keys (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    key_hash    bytea NOT NULL UNIQUE,
    key_prefix  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE workflows (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    name        text NOT NULL,
    stages      text[] NOT NULL DEFAULT ARRAY['New'],
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (company_id, name)
);

CREATE TABLE custom_properties (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    key         text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{0,62}$'),
    name        text NOT NULL,
    type        text NOT NULL CHECK (type IN ('text','number','boolean','date','single_select',
                                              'multi_select','url','email','phone')),
    options     text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (company_id, key)
);

CREATE TABLE contacts (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    salutation  text,
    first_name  text,
    last_name   text,
    email       text,
    phone       text,
    mailing_address text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX contacts_company_email ON contacts (company_id, lower(email)) WHERE email IS NOT NULL;

CREATE TABLE projects (
    id                     uuid PRIMARY KEY,
    company_id             uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    contact_id             uuid REFERENCES contacts(id),
    workflow_id            uuid REFERENCES workflows(id) ON DELETE SET NULL,
    stage                  text,
    title                  text NOT NULL,
    source                 text NOT NULL DEFAULT 'manual' CHECK (source IN ('manual','aurora')),
    street_address         text,
    city                   text,
    state                  text,
    postal_code            text,
    country                text,
    full_address           text,
    -- lower-cased, punctuation-free street + postal code: the fallback match key
    address_key            text,
    latitude               double precision,
    longitude              double precision,
    project_type           text,
    system_size_kw         numeric(12,3),
    contract_value         numeric(14,2),
    price_per_watt         numeric(10,4),
    annual_production_kwh  numeric(14,2),
    module_model           text,
    module_count           integer,
    inverter_model         text,
    inverter_count         integer,
    sales_rep_name         text,
    sales_rep_email        text,
    aurora_tenant_id       text,
    aurora_project_id      text,
    aurora_design_id       text,
    aurora_agreement_id    text,
    aurora_project_url     text,
    proposal_url           text,
    signed_at              timestamptz,
    aurora_status          text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX projects_company_aurora ON projects (company_id, aurora_project_id)
    WHERE aurora_project_id IS NOT NULL;
CREATE INDEX projects_company_address ON projects (company_id, address_key);
CREATE INDEX projects_company_created ON projects (company_id, created_at DESC);

CREATE TABLE custom_values (
    project_id   uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    property_id  uuid NOT NULL REFERENCES custom_properties(id) ON DELETE CASCADE,
    value        jsonb NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, property_id)
);

CREATE TABLE line_items (
    id              uuid PRIMARY KEY,
    project_id      uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    source          text NOT NULL DEFAULT 'manual' CHECK (source IN ('manual','aurora')),
    kind            text NOT NULL CHECK (kind IN ('component','adder','discount','incentive','other')),
    component_type  text,
    manufacturer    text,
    name            text NOT NULL,
    sku             text,
    quantity        numeric(14,3) NOT NULL DEFAULT 1,
    amount          numeric(14,2),
    aurora_ref      text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX line_items_project ON line_items (project_id);
CREATE UNIQUE INDEX line_items_aurora_ref ON line_items (project_id, aurora_ref) WHERE aurora_ref IS NOT NULL;

-- Content-addressed document store: identical bytes are stored once.
CREATE TABLE document_blobs (
    sha256        text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content       bytea NOT NULL,
    size          integer NOT NULL,
    content_type  text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE documents (
    id               uuid PRIMARY KEY,
    project_id       uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    kind             text NOT NULL,
    file_name        text NOT NULL,
    content_type     text NOT NULL,
    sha256           text NOT NULL REFERENCES document_blobs(sha256),
    size             integer NOT NULL,
    source           text NOT NULL DEFAULT 'manual' CHECK (source IN ('manual','aurora')),
    aurora_asset_id  text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, sha256)
);

-- ---------------------------------------------------------------- integration
CREATE TABLE integrations (
    id                       uuid PRIMARY KEY,
    company_id               uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    aurora_tenant_id         text NOT NULL,
    environment              text NOT NULL CHECK (environment IN ('sandbox','production')),
    token_ciphertext         bytea NOT NULL,
    -- first characters of the key type only (e.g. "sk_sand"), for display; never the token
    token_hint               text NOT NULL,
    status                   text NOT NULL DEFAULT 'active'
                             CHECK (status IN ('active','needs_attention','disconnected')),
    status_reason            text,
    -- webhook secret generations accepted by the gateway (current, and the previous during rotation)
    webhook_generation       integer NOT NULL DEFAULT 1,
    webhook_previous_generation integer,
    workflow_id              uuid REFERENCES workflows(id) ON DELETE SET NULL,
    matching_strategy        text NOT NULL DEFAULT 'enrich' CHECK (matching_strategy IN ('enrich','replace','skip')),
    connected_at             timestamptz NOT NULL DEFAULT now(),
    disconnected_at          timestamptz,
    last_event_at            timestamptz,
    updated_at               timestamptz NOT NULL DEFAULT now()
);
-- One live integration per company; disconnected ones are kept for their log and can be reconnected.
CREATE UNIQUE INDEX integrations_one_live_per_company ON integrations (company_id) WHERE status <> 'disconnected';

CREATE TABLE triggers (
    id              uuid PRIMARY KEY,
    integration_id  uuid NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('agreement_status_changed','project_status_changed')),
    statuses        text[] NOT NULL CHECK (cardinality(statuses) > 0),
    position        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX triggers_integration ON triggers (integration_id);

CREATE TABLE custom_mappings (
    id                  uuid PRIMARY KEY,
    integration_id      uuid NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    custom_property_id  uuid NOT NULL REFERENCES custom_properties(id) ON DELETE CASCADE,
    aurora_path         text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (integration_id, custom_property_id)
);

-- Webhook subscriptions registered in Aurora on the company's behalf.
CREATE TABLE aurora_subscriptions (
    id                  uuid PRIMARY KEY,
    integration_id      uuid NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    event               text NOT NULL,
    aurora_webhook_id   text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (integration_id, event)
);

CREATE TABLE integration_log (
    id                 bigserial PRIMARY KEY,
    company_id         uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    integration_id     uuid REFERENCES integrations(id) ON DELETE CASCADE,
    event_id           text,
    kind               text NOT NULL,
    aurora_project_id  text,
    crm_project_id     uuid,
    action             text,
    message            text NOT NULL,
    details            jsonb NOT NULL DEFAULT '{}',
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX integration_log_company ON integration_log (company_id, id DESC);
CREATE INDEX integration_log_event ON integration_log (event_id);
CREATE INDEX integration_log_aurora_project ON integration_log (company_id, aurora_project_id, id DESC);

-- ---------------------------------------------------------------- pipeline bookkeeping
-- Event ids a stage has applied, written in the same transaction as the stage's effects.
CREATE TABLE processed_events (
    stage         text NOT NULL,
    event_id      text NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stage, event_id)
);

-- What the trigger filter has already let through per Aurora object, for dedupe and status precedence.
CREATE TABLE trigger_marks (
    integration_id  uuid NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    subject         text NOT NULL,  -- e.g. "agreement:<id>" or "project_status:<project id>"
    status          text NOT NULL,
    rank            integer NOT NULL DEFAULT 0,
    event_id        text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (integration_id, subject, status)
);

CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    topic         text NOT NULL,
    message_key   bytea,
    headers       jsonb NOT NULL,
    payload       bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- Imports that cannot proceed until the company acts (e.g. Aurora rejected the token); replayed on re-sync.
CREATE TABLE parked_imports (
    event_id        text PRIMARY KEY,
    integration_id  uuid NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    aurora_project_id text NOT NULL,
    payload         jsonb NOT NULL,
    reason          text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE backfills (
    id              uuid PRIMARY KEY,
    integration_id  uuid NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    status          text NOT NULL DEFAULT 'running' CHECK (status IN ('running','completed','failed')),
    params          jsonb NOT NULL DEFAULT '{}',
    found           integer NOT NULL DEFAULT 0,
    queued          integer NOT NULL DEFAULT 0,
    imported        integer NOT NULL DEFAULT 0,
    skipped         integer NOT NULL DEFAULT 0,
    failed          integer NOT NULL DEFAULT 0,
    error           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
