-- Data quality: one row per expectation run, its results, and what was alerted.
-- Written by expectations.record.record_results; read by analysts through dq_failures.

CREATE TABLE dq_runs (
    run_id                  VARCHAR PRIMARY KEY,      -- the pipeline run's id
    started_at              TIMESTAMP NOT NULL,
    finished_at             TIMESTAMP,
    suites                  VARCHAR[],                -- observations | documents | warehouse
    expectations_evaluated  INTEGER NOT NULL,
    failed_error            INTEGER NOT NULL,
    failed_warning          INTEGER NOT NULL,
    data_docs_path          VARCHAR,                  -- index.html of the Data Docs site
    alerts_sent             JSON,                     -- [{channel, target (redacted), fingerprints, attempts}]
    alert_errors            JSON                      -- [message] (secrets redacted)
);

CREATE TABLE dq_results (
    run_id              VARCHAR NOT NULL,
    suite               VARCHAR NOT NULL,
    expectation         VARCHAR NOT NULL,             -- stable name, e.g. yoy_pct_range_gdp
    severity            VARCHAR NOT NULL,             -- error | warning
    success             BOOLEAN NOT NULL,
    unexpected_count    BIGINT NOT NULL,
    sample              JSON,                         -- a few failing records with evidence and document
    fingerprint         VARCHAR NOT NULL,             -- suite + expectation + failing keys
    PRIMARY KEY (run_id, suite, expectation)
);

-- "Alert once": a failure whose fingerprint is here was already sent.
CREATE TABLE alert_log (
    fingerprint     VARCHAR PRIMARY KEY,
    first_sent_at   TIMESTAMP NOT NULL,
    last_sent_at    TIMESTAMP NOT NULL,
    channel         VARCHAR NOT NULL                  -- webhook | smtp | prefect (comma-separated)
);

-- Failed expectations of the latest data-quality run.
CREATE OR REPLACE VIEW dq_failures AS
WITH latest AS (
    SELECT run_id, started_at FROM dq_runs ORDER BY started_at DESC, run_id DESC LIMIT 1
)
SELECT r.run_id, l.started_at, r.suite, r.expectation, r.severity, r.unexpected_count, r.sample, r.fingerprint
FROM dq_results r
JOIN latest l ON l.run_id = r.run_id
WHERE NOT r.success
ORDER BY CASE r.severity WHEN 'error' THEN 0 ELSE 1 END, r.suite, r.expectation;
