DROP TRIGGER consent_records_no_change;
DROP TRIGGER consent_records_no_delete;
DROP TABLE consent_records;
DROP TABLE consent_document_versions;
DROP TABLE consent_documents;
