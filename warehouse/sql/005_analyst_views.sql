-- Analyst views over revisions: the latest value of each fact, a growth panel, and conflicts.
--
-- A *fact key* is (entity, year, start_month, end_month, indicator, measure, segment, benchmark).
-- benchmark is part of the key so that "高于全市 X 个百分点" and "高于全省 X 个百分点" are two
-- facts, not a conflict; it is NULL for every measure except diff_pp.
-- "Latest" = the most recently published document (documents.published_at DESC NULLS LAST),
-- then the most recently ingested, then document_id and position in the text (deterministic).

CREATE OR REPLACE VIEW observation_revisions AS
SELECT
    d.stem              AS document,
    e.name              AS entity,
    e.entity_type       AS entity_type,
    p.year              AS year,
    p.start_month       AS start_month,
    p.end_month         AS end_month,
    p.label             AS period,
    i.code              AS indicator,
    f.segment           AS segment,
    f.measure           AS measure,
    f.value             AS value,
    f.unit              AS unit,
    f.qualifier         AS qualifier,
    b.name              AS benchmark,
    f.evidence          AS evidence,
    d.published_at      AS published_at,
    d.ingested_at       AS ingested_at,
    d.title             AS title,
    d.source_url        AS source_url,
    f.document_id       AS document_id,
    f.observation_id    AS observation_id,
    f.char_start        AS char_start,
    f.dq_flags          AS dq_flags,
    row_number() OVER (
        PARTITION BY e.name, p.year, p.start_month, p.end_month, i.code, f.measure, f.segment, b.name
        ORDER BY d.published_at DESC NULLS LAST, d.ingested_at DESC, f.document_id DESC,
                 f.char_start NULLS LAST, f.observation_id
    )                   AS revision_rank,  -- 1 = the value analysts should use
    count(DISTINCT f.document_id) OVER (
        PARTITION BY e.name, p.year, p.start_month, p.end_month, i.code, f.measure, f.segment, b.name
    )                   AS documents_reporting
FROM fact_observation f
JOIN documents d      USING (document_id)
JOIN dim_entity e     ON e.entity_id = f.entity_id
JOIN dim_period p     ON p.period_id = f.period_id
JOIN dim_indicator i  ON i.indicator_id = f.indicator_id
LEFT JOIN dim_entity b ON b.entity_id = f.benchmark_entity_id;

-- One row per fact key: the value from the most recently published document.
CREATE OR REPLACE VIEW latest_observations AS
SELECT document, entity, entity_type, year, start_month, end_month, period, indicator, segment,
       measure, value, unit, qualifier, benchmark, evidence, published_at, ingested_at, title,
       source_url, document_id, observation_id, dq_flags, documents_reporting
FROM observation_revisions
WHERE revision_rank = 1;

-- Entity × period: year-on-year growth (%) of the headline indicators, whole economy
-- (no segment), from latest_observations. NULL = not reported for that period.
CREATE OR REPLACE VIEW growth_panel AS
SELECT
    entity, year, start_month, end_month, any_value(period) AS period,
    max(value) FILTER (WHERE indicator = 'gdp')                                AS gdp,
    max(value) FILTER (WHERE indicator = 'industrial_value_added_above_scale') AS industrial_value_added_above_scale,
    max(value) FILTER (WHERE indicator = 'fixed_asset_investment')             AS fixed_asset_investment,
    max(value) FILTER (WHERE indicator = 'retail_sales')                       AS retail_sales,
    max(value) FILTER (WHERE indicator = 'foreign_trade')                      AS foreign_trade,
    max(value) FILTER (WHERE indicator = 'exports')                            AS exports,
    max(value) FILTER (WHERE indicator = 'imports')                            AS imports,
    max(published_at)                                                          AS latest_published_at
FROM latest_observations
WHERE measure = 'yoy_pct' AND segment IS NULL AND benchmark IS NULL
  AND indicator IN ('gdp', 'industrial_value_added_above_scale', 'fixed_asset_investment',
                    'retail_sales', 'foreign_trade', 'exports', 'imports')
GROUP BY entity, year, start_month, end_month;

-- Pairs of documents that report different values for the same fact key.
-- Side *a* is the older revision, side *b* the newer one (the order of latest_observations),
-- so each disagreeing pair appears once; the *b* value of the top pair is the latest value.
CREATE OR REPLACE VIEW conflicts AS
WITH per_document AS (
    -- one row per (fact key, document): a document that repeats a fact counts once
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
  AND a.document_id <> b.document_id
  AND a.revision_rank > b.revision_rank
WHERE a.value <> b.value OR a.unit IS DISTINCT FROM b.unit;
