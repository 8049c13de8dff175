-- Incidents: findings of one attack grouped by instance, process lineage and time (src/incidents).
-- The PID sets are space-delimited text (` 12 40 `); categories are `\nA\nB\n` so one matches exactly
-- with LIKE. Findings stored before this migration have no incident.
CREATE TABLE incidents (
    incident_id    TEXT PRIMARY KEY NOT NULL,
    instance_key   TEXT NOT NULL,
    project_id     TEXT,
    location       TEXT,
    service        TEXT,
    revision       TEXT,
    first_time     BIGINT NOT NULL,
    last_time      BIGINT NOT NULL,
    severity       TEXT NOT NULL,
    severity_rank  BIGINT NOT NULL,
    finding_count  BIGINT NOT NULL,
    categories     TEXT NOT NULL,
    pids           TEXT NOT NULL,
    ancestor_pids  TEXT NOT NULL,
    shell_pids     TEXT NOT NULL
);
CREATE INDEX incidents_by_instance ON incidents (instance_key, last_time);
CREATE INDEX incidents_by_time ON incidents (last_time DESC, incident_id DESC);
CREATE INDEX incidents_by_service ON incidents (service, last_time DESC);

ALTER TABLE findings ADD COLUMN incident_id TEXT;
CREATE INDEX findings_by_incident ON findings (incident_id, event_time);
