-- The importer's fallback match key, computed by the database so every writer of `projects` (the importer,
-- the admin API, a hand-edited row) produces the same key without having to know the rule.
--
-- Rule: street + postal code, lower-cased, punctuation removed, whitespace collapsed, common street-type and
-- direction words abbreviated the USPS way ("42 Mesquite Lane" = "42 mesquite ln."), ZIP+4 cut to the ZIP.
-- When the street or postal code column is empty they are taken from the full address: the first
-- comma-separated part is the street, the last 5-digit group (optionally ZIP+4) the postal code.

CREATE FUNCTION crm_normalised_street(street text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT nullif(string_agg(coalesce(a.short, w.word), ' ' ORDER BY w.n), '')
    FROM regexp_split_to_table(btrim(regexp_replace(lower(street), '[^[:alnum:]]+', ' ', 'g')), ' ')
         WITH ORDINALITY AS w(word, n)
    LEFT JOIN (VALUES
        ('street', 'st'), ('avenue', 'ave'), ('av', 'ave'), ('road', 'rd'), ('drive', 'dr'), ('lane', 'ln'),
        ('boulevard', 'blvd'), ('court', 'ct'), ('place', 'pl'), ('circle', 'cir'), ('highway', 'hwy'),
        ('parkway', 'pkwy'), ('terrace', 'ter'), ('trail', 'trl'), ('way', 'way'), ('square', 'sq'),
        ('north', 'n'), ('south', 's'), ('east', 'e'), ('west', 'w'),
        ('northeast', 'ne'), ('northwest', 'nw'), ('southeast', 'se'), ('southwest', 'sw')
    ) AS a(long, short) ON a.long = w.word
    WHERE w.word <> ''
$$;

CREATE FUNCTION crm_address_key(street text, postal_code text, full_address text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN s.street IS NULL OR p.code IS NULL OR p.code = '' THEN NULL ELSE s.street || ' ' || p.code END
    FROM (SELECT crm_normalised_street(coalesce(nullif(btrim(street), ''), split_part(full_address, ',', 1)))
                 AS street) s,
         (SELECT regexp_replace(
                     lower(split_part(coalesce(
                         nullif(btrim(postal_code), ''),
                         (regexp_match(full_address, '(\d{5})(?:-\d{4})?(?!.*\d{5})'))[1]
                     ), '-', 1)),
                     '[^[:alnum:]]+', '', 'g') AS code) p
$$;

CREATE FUNCTION projects_set_address_key() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.address_key := crm_address_key(NEW.street_address, NEW.postal_code, NEW.full_address);
    RETURN NEW;
END
$$;

CREATE TRIGGER projects_address_key
    BEFORE INSERT OR UPDATE OF street_address, postal_code, full_address ON projects
    FOR EACH ROW EXECUTE FUNCTION projects_set_address_key();

UPDATE projects SET address_key = crm_address_key(street_address, postal_code, full_address);

-- The fallback match looks for unlinked projects only; this keeps that lookup an index scan.
CREATE INDEX projects_company_address_unlinked ON projects (company_id, address_key)
    WHERE aurora_project_id IS NULL;
