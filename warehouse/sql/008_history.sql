-- Document versions, fact history and analyst corrections (written by warehouse/history.py and
-- warehouse/corrections.py, inside the load's transaction).
--
-- A *lineage* is one file of one inbox: lineage_id = lineage_key(inbox, path), with the inbox as
-- the run records it in pipeline_runs. Each version of the file is a document, whose id covers
-- the file's bytes and its sidecar's (transforms/fingerprint.py). `documents` holds the current
-- version of every lineage, `document_versions` every version with the run that retired it.
-- `fact_observation` holds the extracted facts of the current versions; `fact_history` every
-- version of every fact after corrections: its open rows (valid_to_run IS NULL) are the facts the
-- analyst views show.

CREATE MACRO lineage_key(inbox, path) AS md5(concat_ws(chr(0), coalesce(inbox, ''), path));

ALTER TABLE pipeline_runs ADD COLUMN fingerprint VARCHAR;     -- extractor fingerprint of the run
ALTER TABLE fact_observation ADD COLUMN fingerprint VARCHAR;  -- the fingerprint that extracted the fact
ALTER TABLE documents ADD COLUMN fingerprint VARCHAR;         -- the one its facts were read with; NULL: re-extract
ALTER TABLE documents ADD COLUMN inbox VARCHAR;
ALTER TABLE documents ADD COLUMN lineage_id VARCHAR;

UPDATE documents SET inbox = r.inbox FROM pipeline_runs r WHERE r.run_id = documents.run_id;
UPDATE documents SET lineage_id = lineage_key(inbox, path);

CREATE TABLE document_versions (
    document_id     VARCHAR NOT NULL,
    lineage_id      VARCHAR NOT NULL,
    inbox           VARCHAR,
    path            VARCHAR NOT NULL,
    stem            VARCHAR NOT NULL,
    sha256          VARCHAR NOT NULL,
    loaded_run      VARCHAR NOT NULL,
    retired_run     VARCHAR,                  -- NULL: the current version, in documents
    retired_cause   VARCHAR,                  -- superseded | forgotten
    superseded_by   VARCHAR,                  -- the document_id of the version after it
    PRIMARY KEY (document_id, loaded_run)
);

INSERT INTO document_versions
SELECT document_id, lineage_id, inbox, path, stem, sha256, run_id, NULL, NULL, NULL FROM documents;

-- Before versions, an edited file stayed loaded twice: keep each lineage's latest version.
CREATE TEMP TABLE _older AS
SELECT document_id, first_value(document_id) OVER (
           PARTITION BY lineage_id ORDER BY ingested_at DESC, document_id DESC) AS superseded_by
FROM documents
QUALIFY row_number() OVER (PARTITION BY lineage_id ORDER BY ingested_at DESC, document_id DESC) > 1;
UPDATE document_versions SET retired_run = 'migration-008', retired_cause = 'superseded', superseded_by = o.superseded_by
FROM _older o WHERE o.document_id = document_versions.document_id;
DELETE FROM fact_observation WHERE document_id IN (SELECT document_id FROM _older);
DELETE FROM source_defects WHERE document_id IN (SELECT document_id FROM _older);
DELETE FROM unmapped_mentions WHERE document_id IN (SELECT document_id FROM _older);
DELETE FROM document_coverage WHERE document_id IN (SELECT document_id FROM _older);
DELETE FROM documents WHERE document_id IN (SELECT document_id FROM _older);
DROP TABLE _older;

-- The current extracted facts with their names. fact_id follows one statement of a file across
-- its versions and re-extractions: its lineage, fact key and qualifier, and its rank among the
-- statements of that key in the text (so an edited value is the same fact, changed).
-- extracted_key is the fact as extracted, to tell a re-extraction from a correction.
CREATE OR REPLACE VIEW extracted_facts AS
SELECT
    md5(concat_ws(chr(0), d.lineage_id, e.name, coalesce(p.year::VARCHAR, '?'),
        coalesce(p.start_month::VARCHAR, '?'), coalesce(p.end_month::VARCHAR, '?'), i.code,
        coalesce(f.segment, ''), f.measure, coalesce(b.name, ''), f.qualifier,
        row_number() OVER (PARTITION BY d.lineage_id, e.name, p.year, p.start_month, p.end_month, i.code,
                                        f.segment, f.measure, b.name, f.qualifier
                           ORDER BY f.char_start NULLS LAST, f.value, f.observation_id)::VARCHAR)) AS fact_id,
    d.lineage_id, f.document_id, f.observation_id, d.stem AS document, e.name AS entity, e.entity_type,
    p.year, p.start_month, p.end_month, p.label AS period, i.code AS indicator, f.segment, f.measure,
    b.name AS benchmark, f.value, f.unit, f.qualifier, f.evidence, f.char_start,
    md5(concat_ws(chr(0), e.name, coalesce(p.year::VARCHAR, '?'), coalesce(p.start_month::VARCHAR, '?'),
        coalesce(p.end_month::VARCHAR, '?'), i.code, coalesce(f.segment, ''), f.measure, coalesce(b.name, ''),
        f.value::VARCHAR, f.unit, f.qualifier)) AS extracted_key,
    f.fingerprint
FROM fact_observation f
JOIN documents d      USING (document_id)
JOIN dim_entity e     ON e.entity_id = f.entity_id
JOIN dim_period p     ON p.period_id = f.period_id
JOIN dim_indicator i  ON i.indicator_id = f.indicator_id
LEFT JOIN dim_entity b ON b.entity_id = f.benchmark_entity_id;

-- The runs that changed facts (loads and forgets), in order; observation_changes shows the last.
CREATE TABLE history_runs (
    run_id          VARCHAR PRIMARY KEY,
    recorded_at     TIMESTAMP NOT NULL,
    kind            VARCHAR NOT NULL,         -- load | forget | migration
    fingerprint     VARCHAR
);

INSERT INTO history_runs
SELECT f.run_id, coalesce(r.finished_at, r.started_at, now()::TIMESTAMP), 'load', NULL
FROM (SELECT DISTINCT run_id FROM fact_observation) f LEFT JOIN pipeline_runs r USING (run_id);

-- Every version of every fact. cause: why the version began (new document, revision by a later
-- document, re-extraction under <fingerprint>, correction); end_cause: why it ended (superseded,
-- re-extraction under <fingerprint>, correction, forgotten). value is the fact as analysts see it,
-- extracted_value as the extractor read it (NULL for a fact an analyst added).
CREATE TABLE fact_history (
    fact_id         VARCHAR NOT NULL,
    valid_from_run  VARCHAR NOT NULL,
    valid_to_run    VARCHAR,                  -- NULL: the current version
    cause           VARCHAR NOT NULL,
    end_cause       VARCHAR,
    lineage_id      VARCHAR NOT NULL,
    document_id     VARCHAR NOT NULL,
    observation_id  VARCHAR,                  -- the extracted fact; NULL for an added one
    document        VARCHAR NOT NULL,
    entity          VARCHAR NOT NULL,
    entity_type     VARCHAR,
    year            INTEGER,
    start_month     INTEGER,
    end_month       INTEGER,
    period          VARCHAR,
    indicator       VARCHAR NOT NULL,
    segment         VARCHAR,
    measure         VARCHAR NOT NULL,
    benchmark       VARCHAR,
    value           DOUBLE NOT NULL,
    unit            VARCHAR NOT NULL,
    qualifier       VARCHAR NOT NULL,
    evidence        VARCHAR NOT NULL,
    char_start      INTEGER,
    extracted_value DOUBLE,
    extracted_key   VARCHAR,
    correction_id   VARCHAR,                  -- the correction line that shaped this version
    fingerprint     VARCHAR,
    PRIMARY KEY (fact_id, valid_from_run)
);

INSERT INTO fact_history
SELECT x.fact_id, f.run_id, NULL, 'new document', NULL, x.lineage_id, x.document_id, x.observation_id,
       x.document, x.entity, x.entity_type, x.year, x.start_month, x.end_month, x.period, x.indicator,
       x.segment, x.measure, x.benchmark, x.value, x.unit, x.qualifier, x.evidence, x.char_start, x.value,
       x.extracted_key, NULL, NULL
FROM extracted_facts x JOIN fact_observation f USING (observation_id);

-- The corrections file as the last load read it (transforms/corrections.py read_corrections), and
-- how many facts of each lineage each line matched.
CREATE TABLE correction_lines (
    line            INTEGER NOT NULL,
    correction_id   VARCHAR NOT NULL,
    extra_cells     INTEGER,
    action          VARCHAR,
    document        VARCHAR,
    entity          VARCHAR,
    year            INTEGER,
    start_month     INTEGER,
    end_month       INTEGER,
    indicator       VARCHAR,
    segment         VARCHAR,
    measure         VARCHAR,
    benchmark       VARCHAR,
    value           DOUBLE,
    unit            VARCHAR,
    evidence        VARCHAR,
    phrase          VARCHAR,
    author          VARCHAR,
    reason          VARCHAR,
    parent          VARCHAR,
    new_year        INTEGER,
    new_start_month INTEGER,
    new_end_month   INTEGER,
    new_value       DOUBLE,
    new_unit        VARCHAR,
    error           VARCHAR,                  -- why the line is not applied; NULL: applied
    run_id          VARCHAR NOT NULL          -- the load that read it
);

CREATE TABLE correction_matches (
    correction_id   VARCHAR NOT NULL,
    lineage_id      VARCHAR NOT NULL,
    matched         BIGINT NOT NULL,
    PRIMARY KEY (correction_id, lineage_id)
);
