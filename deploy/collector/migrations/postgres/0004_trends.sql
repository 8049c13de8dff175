-- Trends (src/trends): findings counted per hour of event time, service, severity, category and rule,
-- kept up to date at ingest, so trend charts read a few hundred rows whatever the number of findings.
-- '' stands for "none" in service and rule_id (they are part of the key).
CREATE TABLE finding_hours (
    hour      BIGINT NOT NULL,
    service   TEXT NOT NULL,
    severity  TEXT NOT NULL,
    category  TEXT NOT NULL,
    rule_id   TEXT NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (hour, service, severity, category, rule_id)
);
CREATE INDEX finding_hours_by_service ON finding_hours (service, hour);

INSERT INTO finding_hours (hour, service, severity, category, rule_id, n)
SELECT (event_time / 3600000000) * 3600000000, COALESCE(service, ''), severity, category,
       COALESCE(rule_id, ''), COUNT(*)
FROM findings
GROUP BY (event_time / 3600000000) * 3600000000, COALESCE(service, ''), severity, category, COALESCE(rule_id, '');
