-- Records still waiting are lost with the table: chain them first (any read of the audit log does).
DROP TABLE audit_outbox;
