-- Raw layer: what came in, as it came in, and what was turned away.

CREATE TABLE documents (
    document_id     VARCHAR PRIMARY KEY,      -- sha256 of the file's bytes
    path            VARCHAR NOT NULL,         -- relative to the inbox
    stem            VARCHAR NOT NULL,         -- file name without extension
    sha256          VARCHAR NOT NULL,
    size_bytes      BIGINT NOT NULL,
    encoding        VARCHAR NOT NULL,
    format          VARCHAR NOT NULL,
    title           VARCHAR,
    title_source    VARCHAR,
    published_at    DATE,
    date_source     VARCHAR,
    source_url      VARCHAR,
    raw_text        VARCHAR NOT NULL,         -- decoded text, markup stripped, as found
    ingested_at     TIMESTAMP NOT NULL,
    run_id          VARCHAR NOT NULL
);

CREATE TABLE quarantine (
    quarantine_id   VARCHAR PRIMARY KEY,      -- deterministic: same bad input, same row
    run_id          VARCHAR NOT NULL,
    stage           VARCHAR NOT NULL,         -- ingest | validation
    path            VARCHAR,
    document_id     VARCHAR,
    reason          VARCHAR NOT NULL,
    detail          VARCHAR NOT NULL,
    payload         BLOB,                     -- raw bytes (head) or the rejected record as JSON
    quarantined_at  TIMESTAMP NOT NULL
);

CREATE TABLE pipeline_runs (
    run_id                  VARCHAR PRIMARY KEY,
    flow_run_id             VARCHAR,
    started_at              TIMESTAMP NOT NULL,
    finished_at             TIMESTAMP,
    status                  VARCHAR NOT NULL,
    inbox                   VARCHAR,
    documents_seen          INTEGER,
    documents_new           INTEGER,
    documents_skipped       INTEGER,
    documents_quarantined   INTEGER,
    observations_loaded     INTEGER,
    expectations_failed     INTEGER,
    extractor_version       VARCHAR,
    summary                 JSON
);
