-- Analyst views over the fact history (008): the facts as corrected, of each file's current version.
--
-- observations, observation_revisions, latest_observations and conflicts keep their columns and
-- read the open versions of fact_history instead of fact_observation: a superseded version's facts
-- and a rejected fact are absent, a set value is the corrected one. `corrected` says which.

CREATE OR REPLACE VIEW observations AS
SELECT document, entity, entity_type, year, start_month, end_month, indicator, segment, measure, value, unit,
       qualifier, benchmark, evidence
FROM fact_history
WHERE valid_to_run IS NULL;

CREATE OR REPLACE VIEW observation_revisions AS
SELECT
    h.document, h.entity, h.entity_type, h.year, h.start_month, h.end_month, h.period, h.indicator, h.segment,
    h.measure, h.value, h.unit, h.qualifier, h.benchmark, h.evidence,
    d.published_at, d.ingested_at, d.title, d.source_url,
    h.document_id, h.observation_id, h.char_start, f.dq_flags,
    h.correction_id IS NOT NULL AS corrected,
    h.extracted_value, h.fact_id, h.lineage_id,
    row_number() OVER (
        PARTITION BY h.entity, h.year, h.start_month, h.end_month, h.indicator, h.measure, h.segment, h.benchmark
        ORDER BY d.published_at DESC NULLS LAST, d.ingested_at DESC, h.document_id DESC,
                 h.char_start NULLS LAST, h.observation_id, h.fact_id
    ) AS revision_rank,  -- 1 = the value analysts should use
    count(DISTINCT h.document_id) OVER (
        PARTITION BY h.entity, h.year, h.start_month, h.end_month, h.indicator, h.measure, h.segment, h.benchmark
    ) AS documents_reporting
FROM fact_history h
JOIN documents d ON d.document_id = h.document_id
LEFT JOIN fact_observation f ON f.observation_id = h.observation_id
WHERE h.valid_to_run IS NULL;

CREATE OR REPLACE VIEW latest_observations AS
SELECT document, entity, entity_type, year, start_month, end_month, period, indicator, segment,
       measure, value, unit, qualifier, benchmark, evidence, published_at, ingested_at, title,
       source_url, document_id, observation_id, dq_flags, documents_reporting, corrected, extracted_value
FROM observation_revisions
WHERE revision_rank = 1;

-- Pairs of documents that report different values for the same fact key; side *b* is the newer.
-- Two sides are always two files: the versions of one file are never current together.
CREATE OR REPLACE VIEW conflicts AS
WITH per_document AS (
    SELECT * FROM observation_revisions
    QUALIFY row_number() OVER (
        PARTITION BY entity, year, start_month, end_month, indicator, measure, segment, benchmark, document_id
        ORDER BY revision_rank) = 1
)
SELECT
    a.entity, a.entity_type, a.year, a.start_month, a.end_month, a.period, a.indicator, a.measure,
    a.segment, a.benchmark,
    a.value         AS value_a,
    b.value         AS value_b,
    b.value - a.value AS difference,
    a.unit          AS unit_a,
    b.unit          AS unit_b,
    a.document      AS document_a,
    b.document      AS document_b,
    a.published_at  AS published_at_a,
    b.published_at  AS published_at_b,
    a.evidence      AS evidence_a,
    b.evidence      AS evidence_b,
    a.document_id   AS document_id_a,
    b.document_id   AS document_id_b
FROM per_document a
JOIN per_document b
  ON  a.entity = b.entity AND a.indicator = b.indicator AND a.measure = b.measure
  AND a.year IS NOT DISTINCT FROM b.year
  AND a.start_month IS NOT DISTINCT FROM b.start_month
  AND a.end_month IS NOT DISTINCT FROM b.end_month
  AND a.segment IS NOT DISTINCT FROM b.segment
  AND a.benchmark IS NOT DISTINCT FROM b.benchmark
  AND a.lineage_id <> b.lineage_id
  AND a.revision_rank > b.revision_rank
WHERE a.value <> b.value OR a.unit IS DISTINCT FROM b.unit;

-- What the last run (load or forget) added, changed and retracted, with old and new values and
-- both evidences. cause: why (the new version's cause, else why the old one ended).
CREATE OR REPLACE VIEW observation_changes AS
WITH last_run AS (SELECT run_id FROM history_runs ORDER BY recorded_at DESC, run_id DESC LIMIT 1),
closed AS (SELECT * FROM fact_history WHERE valid_to_run = (SELECT run_id FROM last_run)),
opened AS (SELECT * FROM fact_history WHERE valid_from_run = (SELECT run_id FROM last_run))
SELECT
    CASE WHEN n.fact_id IS NULL THEN 'retracted' WHEN o.fact_id IS NULL THEN 'added' ELSE 'changed' END AS change,
    coalesce(n.cause, o.end_cause)              AS cause,
    coalesce(n.document, o.document)            AS document,
    coalesce(n.entity, o.entity)                AS entity,
    coalesce(n.indicator, o.indicator)          AS indicator,
    coalesce(n.measure, o.measure)              AS measure,
    coalesce(n.segment, o.segment)              AS segment,
    coalesce(n.benchmark, o.benchmark)          AS benchmark,
    o.period AS old_period, n.period AS new_period,
    o.value AS old_value, n.value AS new_value,
    o.unit AS old_unit, n.unit AS new_unit,
    o.evidence AS old_evidence, n.evidence AS new_evidence,
    coalesce(n.fact_id, o.fact_id)              AS fact_id,
    (SELECT run_id FROM last_run)               AS run_id
FROM closed o
FULL JOIN opened n ON n.fact_id = o.fact_id;

-- Per re-extraction and document: how many of its facts the re-extraction added, changed and
-- retracted, against the facts it had before. A high retracted_share is a regression of the
-- extractor or the vocabulary, not of the document (the expectation on it warns).
CREATE OR REPLACE VIEW reextraction_impact AS
WITH spans AS (
    SELECT h.fact_id, h.lineage_id, h.document, h.cause, h.end_cause, h.valid_from_run, h.valid_to_run,
           coalesce(f.recorded_at, '-infinity'::TIMESTAMP) AS from_at,
           CASE WHEN h.valid_to_run IS NULL THEN 'infinity'::TIMESTAMP ELSE t.recorded_at END AS to_at
    FROM fact_history h
    LEFT JOIN history_runs f ON f.run_id = h.valid_from_run
    LEFT JOIN history_runs t ON t.run_id = h.valid_to_run
),
closed AS (SELECT valid_to_run AS run_id, lineage_id, fact_id FROM spans WHERE end_cause LIKE 're-extraction under %'),
opened AS (SELECT valid_from_run AS run_id, lineage_id, fact_id FROM spans WHERE cause LIKE 're-extraction under %'),
moves AS (
    SELECT coalesce(c.run_id, o.run_id) AS run_id, coalesce(c.lineage_id, o.lineage_id) AS lineage_id,
           count(*) FILTER (WHERE c.fact_id IS NULL)                          AS added,
           count(*) FILTER (WHERE c.fact_id IS NOT NULL AND o.fact_id IS NOT NULL) AS changed,
           count(*) FILTER (WHERE o.fact_id IS NULL)                          AS retracted
    FROM closed c
    FULL JOIN opened o ON o.run_id = c.run_id AND o.fact_id = c.fact_id
    GROUP BY ALL
)
SELECT m.run_id, r.recorded_at, r.fingerprint, any_value(s.document) AS document, m.lineage_id,
       count(s.fact_id) FILTER (WHERE s.from_at < r.recorded_at AND s.to_at >= r.recorded_at) AS facts_before,
       m.added, m.changed, m.retracted,
       m.retracted / nullif(count(s.fact_id) FILTER (WHERE s.from_at < r.recorded_at AND s.to_at >= r.recorded_at), 0)
           AS retracted_share
FROM moves m
JOIN history_runs r USING (run_id)
JOIN spans s ON s.lineage_id = m.lineage_id
GROUP BY m.run_id, r.recorded_at, r.fingerprint, m.lineage_id, m.added, m.changed, m.retracted;

-- Corrections that do nothing: invalid lines, and valid ones that match no fact (reject, set),
-- add nothing (add: the document is not loaded or its text lacks the evidence), or that no text
-- shows yet (map_phrase: no fact or unmapped mention reads the phrase; alias: not in dim_entity).
CREATE OR REPLACE VIEW corrections_unmatched AS
WITH totals AS (SELECT correction_id, sum(matched) AS matched FROM correction_matches GROUP BY correction_id),
lines AS (
    SELECT l.*, coalesce(t.matched, 0) AS matched,
        CASE l.action
            WHEN 'map_phrase' THEN EXISTS (SELECT 1 FROM unmapped_mentions u WHERE u.phrase = l.phrase)
                OR EXISTS (SELECT 1 FROM fact_history h WHERE h.valid_to_run IS NULL
                           AND h.indicator = l.indicator AND contains(h.evidence, l.phrase))
            WHEN 'alias' THEN EXISTS (SELECT 1 FROM dim_entity e WHERE e.name = l.entity
                           AND (l.phrase IS NULL OR list_contains(e.aliases, l.phrase))
                           AND (l.parent IS NULL OR e.parent = l.parent))
            ELSE coalesce(t.matched, 0) > 0
        END AS effective
    FROM correction_lines l
    LEFT JOIN totals t USING (correction_id)
)
SELECT line, action, document, entity, year, start_month, end_month, indicator, segment, measure, benchmark,
       value, unit, new_value, new_unit, evidence, phrase, parent, author, reason,
       CASE WHEN error IS NOT NULL THEN 'invalid: ' || error
            WHEN action = 'add' AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.stem = lines.document)
                THEN 'document ' || document || ' is not loaded'
            WHEN action = 'add' THEN 'the evidence is not in the text of document ' || document
            WHEN action = 'map_phrase' THEN 'no fact or unmapped mention reads the phrase'
            WHEN action = 'alias' THEN 'the entity does not have this name or parent yet'
            ELSE 'matches no fact'
       END AS problem,
       correction_id
FROM lines
WHERE error IS NOT NULL OR NOT effective
ORDER BY line;
