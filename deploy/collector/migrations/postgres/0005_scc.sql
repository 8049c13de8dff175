-- Security Command Center export (src/scc): what is still to be sent. kind: publish (a new finding)
-- or state (its triage state changed). Rows are deleted once sent; due_at = the largest BIGINT marks
-- one given up on (last_error says why).
CREATE TABLE scc_outbox (
    finding_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    due_at      BIGINT NOT NULL,
    attempts    BIGINT NOT NULL,
    last_error  TEXT,
    PRIMARY KEY (finding_id, kind)
);
CREATE INDEX scc_outbox_due ON scc_outbox (due_at);
