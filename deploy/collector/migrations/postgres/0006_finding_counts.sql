-- Counts of findings per time bucket, service, severity, category, rule and triage state, in buckets of
-- an hour, six hours and a day (span: the bucket's length in microseconds; bucket: its start, a multiple
-- of span since the epoch). Kept at ingest, on triage state changes and by retention (src/storage/counts.rs),
-- so the findings list's totals and counts and the trend charts read rows per bucket and key, however
-- many findings are stored. It replaces finding_hours (0004), whose rows per hour and key made a 30-day
-- trend read as many rows as there were findings when keys were many. '' stands for "none" in service
-- and rule_id (they are part of the key). Existing findings are counted here, once.
CREATE TABLE finding_counts (
    span      BIGINT NOT NULL,
    bucket    BIGINT NOT NULL,
    service   TEXT NOT NULL,
    severity  TEXT NOT NULL,
    category  TEXT NOT NULL,
    rule_id   TEXT NOT NULL,
    state     TEXT NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (span, bucket, service, severity, category, rule_id, state)
);
CREATE INDEX finding_counts_by_service ON finding_counts (span, service, bucket);

-- The bucket is the start of the span that holds event_time (a Euclidean floor: correct before 1970 too).
INSERT INTO finding_counts (span, bucket, service, severity, category, rule_id, state, n)
SELECT 3600000000, event_time - (((event_time % 3600000000) + 3600000000) % 3600000000),
       COALESCE(service, ''), severity, category, COALESCE(rule_id, ''), state, COUNT(*)
FROM findings
GROUP BY event_time - (((event_time % 3600000000) + 3600000000) % 3600000000),
         COALESCE(service, ''), severity, category, COALESCE(rule_id, ''), state;

INSERT INTO finding_counts (span, bucket, service, severity, category, rule_id, state, n)
SELECT s.span, bucket - (((bucket % s.span) + s.span) % s.span), service, severity, category, rule_id, state,
       CAST(SUM(n) AS BIGINT)
FROM finding_counts CROSS JOIN (SELECT 21600000000 AS span UNION ALL SELECT 86400000000) s
WHERE finding_counts.span = 3600000000
GROUP BY s.span, bucket - (((bucket % s.span) + s.span) % s.span), service, severity, category, rule_id, state;

DROP TABLE finding_hours;
