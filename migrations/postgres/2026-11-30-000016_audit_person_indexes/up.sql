-- A person's records (the account page's "restored" notice, the data export: AuditStore::audit_for_user)
-- are found by actor or subject. Without these the account page of a person with few records read the
-- whole log, however long. The actor index leaves out records whose actor is a client (`client:<id>`:
-- every token issued), which no person's lookup asks for, so the hot path does not pay for it; the
-- lookup repeats that condition so that the partial index applies. Keep in step with the other dialect.
CREATE INDEX audit_events_actor ON audit_events(actor) WHERE actor NOT LIKE 'client:%';
CREATE INDEX audit_events_subject ON audit_events(subject);
