-- Field history: every change to a project, a contact or a custom value, written by a trigger in the
-- transaction of the change itself, so no writer can forget it and none can record a change that rolled back.
-- Writers say who they are for the transaction: set_config('pipeline.change_source', …, true) and
-- 'pipeline.event_id' (pipeline_common.field_history.declare_change). A change made without them is recorded
-- with source 'database' (someone writing SQL by hand).

CREATE TABLE field_changes (
    id          bigserial PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    project_id  uuid REFERENCES projects(id) ON DELETE CASCADE,
    contact_id  uuid REFERENCES contacts(id) ON DELETE CASCADE,
    field       text NOT NULL,           -- project.<column>, contact.<column> or custom.<property key>
    old_value   jsonb,
    new_value   jsonb,
    source      text NOT NULL CHECK (source IN ('aurora_import', 'reapply', 'two_way', 'api', 'database')),
    event_id    text,
    changed_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX field_changes_project ON field_changes (project_id, id);
CREATE INDEX field_changes_contact ON field_changes (contact_id, id);

-- Columns that are bookkeeping, not a value anyone set.
CREATE FUNCTION field_history_skip(col text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT col IN ('id', 'company_id', 'created_at', 'updated_at', 'address_key', 'full_address', 'source')
$$;

CREATE FUNCTION record_field_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    new_row jsonb := CASE WHEN TG_OP = 'DELETE' THEN '{}'::jsonb ELSE to_jsonb(NEW) END;
    old_row jsonb := CASE WHEN TG_OP = 'INSERT' THEN '{}'::jsonb ELSE to_jsonb(OLD) END;
    src text := coalesce(nullif(current_setting('pipeline.change_source', true), ''), 'database');
    evt text := nullif(current_setting('pipeline.event_id', true), '');
    k text;
    v_company uuid;
    v_project uuid;
    v_contact uuid;
    v_key text;
BEGIN
    IF TG_TABLE_NAME = 'custom_values' THEN
        v_project := coalesce(new_row->>'project_id', old_row->>'project_id')::uuid;
        SELECT p.company_id INTO v_company FROM projects p WHERE p.id = v_project;
        SELECT cp.key INTO v_key FROM custom_properties cp
         WHERE cp.id = coalesce(new_row->>'property_id', old_row->>'property_id')::uuid;
        IF v_company IS NOT NULL AND (old_row->'value') IS DISTINCT FROM (new_row->'value') THEN
            INSERT INTO field_changes (company_id, project_id, field, old_value, new_value, source, event_id)
            VALUES (v_company, v_project, 'custom.' || v_key, old_row->'value', new_row->'value', src, evt);
        END IF;
        RETURN NULL;
    END IF;
    v_company := (new_row->>'company_id')::uuid;
    IF TG_TABLE_NAME = 'projects' THEN
        v_project := (new_row->>'id')::uuid;
    ELSE
        v_contact := (new_row->>'id')::uuid;
    END IF;
    FOR k IN SELECT jsonb_object_keys(new_row) LOOP
        CONTINUE WHEN field_history_skip(k);
        CONTINUE WHEN TG_OP = 'INSERT' AND new_row->k = 'null'::jsonb;
        CONTINUE WHEN (old_row->k) IS NOT DISTINCT FROM (new_row->k);
        INSERT INTO field_changes (company_id, project_id, contact_id, field, old_value, new_value, source, event_id)
        VALUES (v_company, v_project, v_contact, left(TG_TABLE_NAME, -1) || '.' || k,
                CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE old_row->k END, new_row->k, src, evt);
    END LOOP;
    RETURN NULL;
END;
$$;

CREATE TRIGGER projects_field_history AFTER INSERT OR UPDATE ON projects
    FOR EACH ROW EXECUTE FUNCTION record_field_changes();
CREATE TRIGGER contacts_field_history AFTER INSERT OR UPDATE ON contacts
    FOR EACH ROW EXECUTE FUNCTION record_field_changes();
CREATE TRIGGER custom_values_field_history AFTER INSERT OR UPDATE OR DELETE ON custom_values
    FOR EACH ROW EXECUTE FUNCTION record_field_changes();
