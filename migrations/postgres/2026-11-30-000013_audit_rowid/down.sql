CREATE INDEX audit_events_at ON audit_events(at);
CREATE INDEX audit_events_event ON audit_events(event);
