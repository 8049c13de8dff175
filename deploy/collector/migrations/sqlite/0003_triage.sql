-- Triage (src/triage): a state per finding and incident, mute rules with an expiry, and the audit
-- table of every change (who, when, from which state to which, the note).
ALTER TABLE findings ADD COLUMN state TEXT NOT NULL DEFAULT 'ACTIVE';
ALTER TABLE incidents ADD COLUMN state TEXT NOT NULL DEFAULT 'ACTIVE';
CREATE INDEX findings_by_state ON findings (state, event_time DESC);

CREATE TABLE mute_rules (
    mute_id     TEXT PRIMARY KEY NOT NULL,
    category    TEXT,
    service     TEXT,
    rule_id     TEXT,
    text_match  TEXT,
    expires_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    note        TEXT NOT NULL
);
CREATE INDEX mute_rules_by_expiry ON mute_rules (expires_at);

-- subject_kind: finding, incident or mute.
CREATE TABLE audit (
    audit_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_kind TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    action       TEXT NOT NULL,
    old_state    TEXT,
    new_state    TEXT,
    actor        TEXT NOT NULL,
    at           BIGINT NOT NULL,
    note         TEXT NOT NULL
);
CREATE INDEX audit_by_subject ON audit (subject_kind, subject_id, at);
