-- Core star schema: dimensions and the observation fact.
-- Surrogate keys are deterministic (hash of the natural key), so loads are idempotent.
-- Foreign keys are not declared: DuckDB cannot upsert a referenced row; the
-- warehouse expectation suite checks that every key resolves instead.

CREATE TABLE dim_entity (
    entity_id       BIGINT PRIMARY KEY,
    name            VARCHAR NOT NULL UNIQUE,
    entity_type     VARCHAR NOT NULL,
    parent          VARCHAR,
    aliases         VARCHAR[],
    origin          VARCHAR NOT NULL          -- vocabulary | discovered
);

CREATE TABLE dim_period (
    period_id       BIGINT PRIMARY KEY,
    year            INTEGER,
    start_month     INTEGER,
    end_month       INTEGER,
    label           VARCHAR NOT NULL          -- 2024-H1, 2024-Q1, 2024-M01-M11, 2024-FY, 2024-M01-open
);

CREATE TABLE dim_indicator (
    indicator_id    BIGINT PRIMARY KEY,
    code            VARCHAR NOT NULL UNIQUE,
    name_zh         VARCHAR,
    name_en         VARCHAR,
    unit_kind       VARCHAR,
    category        VARCHAR
);

CREATE TABLE fact_observation (
    observation_id      VARCHAR PRIMARY KEY,  -- hash of document and the fact's natural key
    document_id         VARCHAR NOT NULL,
    entity_id           BIGINT NOT NULL,
    period_id           BIGINT NOT NULL,
    indicator_id        BIGINT NOT NULL,
    segment             VARCHAR,
    measure             VARCHAR NOT NULL,
    value               DOUBLE NOT NULL,
    unit                VARCHAR NOT NULL,
    qualifier           VARCHAR NOT NULL,
    benchmark_entity_id BIGINT,
    evidence            VARCHAR NOT NULL,
    char_start          INTEGER,
    char_end            INTEGER,
    dq_flags            VARCHAR[],            -- names of warning-severity expectations it failed
    extractor_version   VARCHAR NOT NULL,
    run_id              VARCHAR NOT NULL
);

CREATE TABLE source_defects (
    defect_id       VARCHAR PRIMARY KEY,
    document_id     VARCHAR NOT NULL,
    kind            VARCHAR NOT NULL,         -- lost_digits | lost_percent | lost_count | lost_year ...
    text            VARCHAR NOT NULL,         -- the defective span as found
    sentence        VARCHAR NOT NULL,
    char_start      INTEGER,
    run_id          VARCHAR NOT NULL
);

CREATE TABLE unmapped_mentions (
    mention_id      VARCHAR PRIMARY KEY,
    document_id     VARCHAR NOT NULL,
    phrase          VARCHAR NOT NULL,         -- what named the number, not in the vocabulary
    measure         VARCHAR NOT NULL,
    value           DOUBLE,
    unit            VARCHAR,
    evidence        VARCHAR NOT NULL,
    run_id          VARCHAR NOT NULL
);
