-- The CRM's own records: requests (pre-sale opportunities) in a per-company request workflow, and the
-- idempotency keys of the admin API's POSTs. Written by the admin service.

-- A company's request workflow; its default one (New Request → Proposal → Closed Won / Closed Lost) is made
-- the first time the company touches requests. Stages have ids (not a text[] like project workflows) because
-- requests, their history and the pre-sale settings point at them, and a renamed stage must stay the same one.
CREATE TABLE request_workflows (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (company_id, name)
);
CREATE UNIQUE INDEX request_workflows_one_default ON request_workflows (company_id) WHERE is_default;

CREATE TABLE request_stages (
    id           uuid PRIMARY KEY,
    workflow_id  uuid NOT NULL REFERENCES request_workflows(id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    position     integer NOT NULL,
    -- open: the deal is in progress; won / lost: closed. A signed agreement moves a request to a `won` stage.
    outcome      text NOT NULL DEFAULT 'open' CHECK (outcome IN ('open','won','lost')),
    UNIQUE (workflow_id, name),
    UNIQUE (workflow_id, position)
);

CREATE TABLE requests (
    id              uuid PRIMARY KEY,
    company_id      uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    workflow_id     uuid NOT NULL REFERENCES request_workflows(id),
    stage_id        uuid NOT NULL REFERENCES request_stages(id),
    title           text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    value           numeric(14,2) CHECK (value >= 0),
    contact_id      uuid REFERENCES contacts(id),
    street_address  text,
    city            text,
    state           text,
    postal_code     text,
    country         text,
    full_address    text,
    latitude        double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude       double precision CHECK (longitude BETWEEN -180 AND 180),
    project_type    text CHECK (project_type IN ('residential','commercial')),
    -- The link to an Aurora project (made from this request, or an existing one linked by hand): null until then.
    aurora_tenant_id    text,
    aurora_project_id   text,
    aurora_project_url  text,
    linked_at           timestamptz,
    -- The CRM project this request became (a signed agreement converts it).
    project_id      uuid REFERENCES projects(id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- An address is a street and a postal code, or nothing.
    CHECK ((street_address IS NULL) = (postal_code IS NULL)),
    CHECK ((latitude IS NULL) = (longitude IS NULL))
);
CREATE INDEX requests_company_created ON requests (company_id, created_at DESC, id);
CREATE UNIQUE INDEX requests_company_aurora ON requests (company_id, aurora_project_id)
    WHERE aurora_project_id IS NOT NULL;

-- Every stage a request entered, with who moved it (`user` through the API; later `aurora` with its event).
CREATE TABLE request_stage_history (
    id             bigserial PRIMARY KEY,
    request_id     uuid NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
    from_stage_id  uuid REFERENCES request_stages(id),
    stage_id       uuid NOT NULL REFERENCES request_stages(id),
    source         text NOT NULL CHECK (source IN ('user','aurora')),
    event_id       text,
    changed_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX request_stage_history_request ON request_stage_history (request_id, id);

-- `Idempotency-Key` of the admin API's POSTs: the same key with the same body answers what the first call
-- answered, never a second record. The key is claimed first thing in the transaction that makes the record
-- (a concurrent call with the same key waits on it) and its answer is stored before that transaction commits,
-- so a committed row always has one; a call that fails rolls its claim back and the key stays free.
CREATE TABLE idempotency_keys (
    company_id      uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    key             text NOT NULL,
    route           text NOT NULL,
    request_sha256  bytea NOT NULL,
    status_code     integer,
    response        jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, key)
);
CREATE INDEX idempotency_keys_company_created ON idempotency_keys (company_id, created_at);
