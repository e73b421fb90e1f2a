-- A document is its bytes *and* what it is: the same PDF uploaded in Aurora as a design layout and as a
-- racking spec sheet is two documents of the project. (project, sha256) kept only one of them.
-- A redelivered or repeated import still attaches nothing twice: (project, kind, sha256) is unique.

ALTER TABLE documents DROP CONSTRAINT documents_project_id_sha256_key;
ALTER TABLE documents ADD CONSTRAINT documents_project_kind_sha256_key UNIQUE (project_id, kind, sha256);
