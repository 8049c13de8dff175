-- Findings: the JSON as received in `body`, the fields the collector filters on lifted into columns.
-- Times are microseconds since the epoch (UTC), so range filters and ordering are integer comparisons
-- that read the same in SQLite and PostgreSQL.
CREATE TABLE findings (
    finding_id    TEXT PRIMARY KEY NOT NULL,
    event_time    BIGINT NOT NULL,
    received_at   BIGINT NOT NULL,
    category      TEXT NOT NULL,
    severity      TEXT NOT NULL,
    severity_rank BIGINT NOT NULL,
    project_id    TEXT,
    location      TEXT,
    service       TEXT,
    revision      TEXT,
    instance_id   TEXT,
    action        TEXT,
    rule_id       TEXT,
    description   TEXT NOT NULL,
    search_text   TEXT NOT NULL,
    body          TEXT NOT NULL
);
CREATE INDEX findings_by_time ON findings (event_time DESC, finding_id DESC);
CREATE INDEX findings_by_category ON findings (category, event_time DESC);
CREATE INDEX findings_by_severity ON findings (severity, event_time DESC);
CREATE INDEX findings_by_service ON findings (service, revision, event_time DESC);
CREATE INDEX findings_by_instance ON findings (instance_id, event_time DESC);

-- One row per instance, from its latest heartbeat.
CREATE TABLE instances (
    instance_key      TEXT PRIMARY KEY NOT NULL,
    instance_id       TEXT,
    project_id        TEXT,
    location          TEXT,
    service           TEXT,
    revision          TEXT,
    first_seen        BIGINT NOT NULL,
    last_seen         BIGINT NOT NULL,
    heartbeat_time    BIGINT NOT NULL,
    heartbeat_id      TEXT NOT NULL,
    start_time        BIGINT,
    interval_seconds  BIGINT NOT NULL,
    is_final          BIGINT NOT NULL,
    runwarden_version TEXT,
    sensor            TEXT,
    mode              TEXT,
    counts            TEXT NOT NULL
);
CREATE INDEX instances_by_last_seen ON instances (last_seen);
