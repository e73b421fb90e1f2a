-- The latest status the trigger filter heard per project (issue 11, defect 3), whether or not it started an
-- import. Aurora's webhook carries no delivery id: a redelivery repeats the same URL, so it is told apart from
-- a new event only by what came before it. A project status equal to the latest one heard is a redelivery; a
-- status that comes back after another one (Installed → Permit → Installed) is a genuine later transition.
-- Owned by the trigger filter, like trigger_marks (which keeps the agreement statuses that started imports).
CREATE TABLE trigger_latest_status (
    integration_id  uuid NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    subject         text NOT NULL,  -- "project_status:<project id>"
    status          text NOT NULL,
    event_id        text NOT NULL,  -- the import id derived from the webhook that reported it
    heard_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (integration_id, subject)
);

-- Project statuses were marks (one per status ever seen, so a status could never import twice); the newest
-- of them is the latest status heard.
INSERT INTO trigger_latest_status (integration_id, subject, status, event_id, heard_at)
SELECT DISTINCT ON (integration_id, subject) integration_id, subject, status, event_id, created_at
FROM trigger_marks
WHERE subject LIKE 'project_status:%'
ORDER BY integration_id, subject, created_at DESC;

DELETE FROM trigger_marks WHERE subject LIKE 'project_status:%';
