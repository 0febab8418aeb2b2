-- Consent documents (terms of service, privacy policy, marketing purposes), their published versions,
-- and the append-only record of every acceptance and withdrawal: the evidence a business shows under
-- GDPR Art. 7(1) ("the controller shall be able to demonstrate that the data subject has consented").
-- A person's state per document is their latest record. Records are never changed or deleted (the
-- triggers below refuse it); on erasure only `user_id` is replaced by a pseudonym. They have no foreign
-- key to users or clients, so deleting either keeps the evidence. Keep in step with the other dialect.
CREATE TABLE consent_documents (
    id TEXT PRIMARY KEY NOT NULL,
    title TEXT NOT NULL,
    purpose TEXT NOT NULL,
    required BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE consent_document_versions (
    document_id TEXT NOT NULL REFERENCES consent_documents(id),
    version BIGINT NOT NULL,
    url TEXT NOT NULL,
    summary TEXT NOT NULL,
    reconsent_required BOOLEAN NOT NULL,
    published_at BIGINT NOT NULL,
    PRIMARY KEY (document_id, version)
);

CREATE TABLE consent_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id TEXT NOT NULL,
    document_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    action TEXT NOT NULL,
    at BIGINT NOT NULL,
    method TEXT NOT NULL,
    client_id TEXT,
    region TEXT,
    FOREIGN KEY (document_id, version) REFERENCES consent_document_versions(document_id, version)
);
CREATE INDEX consent_records_user_document ON consent_records(user_id, document_id);

CREATE TRIGGER consent_records_no_delete BEFORE DELETE ON consent_records
BEGIN
    SELECT RAISE(ABORT, 'consent records are append-only');
END;

CREATE TRIGGER consent_records_no_change
BEFORE UPDATE OF id, document_id, version, action, at, method, client_id, region ON consent_records
BEGIN
    SELECT RAISE(ABORT, 'consent records are append-only');
END;
