DROP TRIGGER consent_records_no_change ON consent_records;
DROP TRIGGER consent_records_no_delete ON consent_records;
DROP FUNCTION consent_records_append_only();
DROP TABLE consent_records;
DROP TABLE consent_document_versions;
DROP TABLE consent_documents;
